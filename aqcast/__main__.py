from aqcast.service.cli import app

app()
