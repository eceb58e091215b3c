module certctl-render

go 1.19
