// Imported before `natural`. sentiment/natural.ts loads only the parts of natural it uses, which do not load dotenv;
// natural's index does (its storage modules), and dotenv then prints banner lines to stdout that would corrupt the
// CLI's JSON output. This keeps it quiet should any code load the index.
process.env.DOTENV_CONFIG_QUIET = "true"
