from irpath.cli.main import run

run()
