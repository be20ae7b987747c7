// What a stored label (a token's or an audience's name: text people read in lists, tables and terminals) may hold.
// Control characters (C0, DEL, C1) and bidi overrides are no part of a label: stored, they would clear an operator's
// screen or show a name reversed wherever it is listed.
// eslint-disable-next-line no-control-regex
const LABEL_CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/

/** Whether a label holds a control character or a bidi override. */
export const hasLabelControls = (label: string): boolean => LABEL_CONTROLS.test(label)
