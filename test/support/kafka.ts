// The Kafka broker the integration tests use: deploy/services/up exports CDP_KAFKA_BROKERS. With CDP_INTEGRATION=1 a
// missing broker fails the test with the line that says how to start one (never a skip).
export const kafkaBrokers = (): Array<string> => {
  const list = process.env["CDP_KAFKA_BROKERS"]
  if (list === undefined || list === "") {
    throw new Error('CDP_INTEGRATION=1 needs a Kafka broker: run eval "$(deploy/services/up)" first (sets CDP_KAFKA_BROKERS)')
  }
  return list.split(",")
}
