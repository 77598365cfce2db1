from warden_cli.main import app

app(prog_name="warden")
