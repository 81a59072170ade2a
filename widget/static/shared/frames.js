// Folded frames (docs/protocol.md, "One frame per message"): a message to its recipient
// carries their unread count (and, to an agent, the sound to play) and an ack carries
// the sender's own stored message. unfold() gives back the frames each stands for, in
// the order they used to come (message, unread, sound; message, ack), so the apps'
// handlers of message, unread, sound and ack work unchanged.

export function unfold(f) {
  if (f.type === "message" && (f.unread != null || f.sound)) {
    const { unread, sound, ...message } = f;
    const out = [message];
    if (unread != null) out.push({ type: "unread", conversation_id: f.conversation_id, count: unread });
    if (sound) out.push({ type: "sound", event: sound.event, sound: sound.sound, conversation_id: f.conversation_id });
    return out;
  }
  if (f.type === "ack" && f.message) {
    const { message, ...ack } = f;
    return [message, ack];
  }
  return [f];
}
