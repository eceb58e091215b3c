/** The outcome of a connector's configuration/connection check. */
export interface ConnectorCheck {
  ok: boolean;
  message: string;
}
