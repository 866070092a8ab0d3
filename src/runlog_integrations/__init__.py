"""Framework integrations for runlog; import the module of your framework, e.g. runlog_integrations.lightning."""
