from wheelscan.cli.main import entry

entry()
