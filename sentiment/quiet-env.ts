// Imported before `natural`: natural loads dotenv at import time, which otherwise prints banner lines to stdout
// and would corrupt JSON output of the CLI.
process.env.DOTENV_CONFIG_QUIET = "true"
