// A flag that takes one value, given twice, is refused in one line: commander keeps the last one silently, so
// `cdp dsr submit --type erasure --email a@x --email b@x` ran on b@x alone and `cdp token create --role admin --role
// collector` chose a role without a word. Flags meant to repeat (--set, --channel, --write-key, ...) collect into an
// array (their default is []), and keep doing so.
import { type Command, InvalidArgumentError, type Option } from "commander"

const takesOneValue = (option: Option) => (option.required || option.optional) && !option.variadic && !Array.isArray(option.defaultValue)

const refuseSecondValue = (command: Command, option: Option): void => {
  const parse = option.parseArg
  option.parseArg = <T>(value: string, previous: T): T => {
    // The value source is "cli" only once the flag has been read from the command line: this is its second time.
    if (command.getOptionValueSource(option.attributeName()) === "cli") {
      throw new InvalidArgumentError(`${option.long ?? option.flags} is given twice; give it once`)
    }
    return (parse === undefined ? value : parse(value, previous)) as T
  }
}

/** Makes every one-value flag of `command` and its subcommands refuse a second value. */
export const refuseRepeatedFlags = (command: Command): void => {
  for (const option of command.options) if (takesOneValue(option)) refuseSecondValue(command, option)
  for (const sub of command.commands) refuseRepeatedFlags(sub)
}
