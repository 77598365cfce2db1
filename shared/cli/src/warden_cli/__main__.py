from warden_cli.main import app

app()
