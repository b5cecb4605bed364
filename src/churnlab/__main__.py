from churnlab.cli import app

app()
