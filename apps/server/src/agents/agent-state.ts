import type { EntityManager } from 'typeorm';
import { rowsOf } from '../database/sql';

/** Whether an agent exists and is retired: what agent-facing routes check first. */
export interface AgentState {
  id: string;
  retired_at: Date | null;
}

/**
 * The agent row. Inside a transaction (`locked`), KEY SHARE holds off a concurrent
 * retirement (which locks the row FOR UPDATE and cancels the agent's open jobs) until the
 * transaction ends.
 */
export async function agentState(m: EntityManager, id: string, locked: boolean): Promise<AgentState | null> {
  const rows = rowsOf<AgentState>(
    await m.query(`SELECT id, retired_at FROM agents WHERE id = $1${locked ? ' FOR KEY SHARE' : ''}`, [id]),
  );
  return rows[0] ?? null;
}
