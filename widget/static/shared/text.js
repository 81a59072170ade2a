// Text as people see it: without the characters that would make it lie about itself.
// The gateway strips them before it stores a name or a message (gateway/model/text.py);
// this is the same rule at display, for text stored before that rule or arriving by
// another way: control characters (C0 but tab and newline, DEL, C1) and the bidi
// embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), so that
// "\u202egnp.exe" shows as "gnp.exe", never as "exe.png". The styles isolate names and
// messages too (unicode-bidi), so a right-to-left name cannot reorder the text around it.

const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function displayText(s) { return String(s).replace(UNSAFE, ""); }
