// TCF v2 core strings written bit by bit for tests of the consent readers' caps, budget and pacing.

/**
 * A TCF v2 core string restricting vendors 1-`restrictTo` for purpose 1 (1,999: under the caps, about 5 ms to decode;
 * 1: a real string's cost), distinct per (`cmp`, `version`): a string not decoded yet in the process when both are new.
 */
export const restrictingTcf = (cmp: number, restrictTo: number, version = 1) => {
  const int = (v: number, n: number) => v.toString(2).padStart(n, "0")
  const purposes = Array.from({ length: 24 }, (_, i) => ([1, 8, 9].includes(i + 1) ? "1" : "0")).join("")
  let bits = int(2, 6) + int(0, 72) + int(cmp, 12) + int(version, 12) + int(1, 6) + int(4, 6) + int(13, 6) + int(100, 12) + int(2, 6) + "00" +
    int(0, 12) + purposes + int(0, 24) + "0" + int(6, 6) + int(1, 6) +
    int(10, 16) + "1" + int(1, 12) + `1${int(1, 16)}${int(10, 16)}` +
    int(0, 16) + "0" + int(1, 12) + `${int(1, 6)}${int(1, 2)}${int(1, 12)}1${int(1, 16)}${int(restrictTo, 16)}`
  bits += "0".repeat((6 - (bits.length % 6)) % 6)
  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  return Array.from({ length: bits.length / 6 }, (_, i) => B64[parseInt(bits.slice(i * 6, i * 6 + 6), 2)]).join("")
}
