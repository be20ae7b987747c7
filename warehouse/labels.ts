// Characters no text people read (a name in a list, a value printed to a terminal) should carry as themselves: C1
// controls (U+009B is a CSI on its own), DEL, and the bidi overrides and isolates that reorder what is shown ("Trojan
// Source"). C0 controls are added by each user of the class, since output may keep tab and line feed.
export const DISPLAY_CONTROLS = "\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069"

// A stored label (a token's or an audience's name) holds no control character at all: stored, one would clear an
// operator's screen or show a name reversed wherever it is listed.
const LABEL_CONTROLS = new RegExp(`[\\u0000-\\u001f${DISPLAY_CONTROLS}]`)

/** Whether a label holds a control character or a bidi override. */
export const hasLabelControls = (label: string): boolean => LABEL_CONTROLS.test(label)
