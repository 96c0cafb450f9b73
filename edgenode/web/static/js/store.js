// The UI's state: one plain object, changed through update(), rendered from the root after each change.

export const state = {
  config: null, me: null, phase: "loading", lang: "en",
  teams: [], teamId: null,
  channels: {}, members: {}, users: {},
  posts: {}, order: {}, complete: {}, loading: {},
  channelId: null, threadId: null, view: "chat",
  online: true, socket: "connecting",
  delivery: {}, search: null, dialog: null, error: "",
};

const listeners = new Set();
let scheduled = false;

export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function update(change) {
  if (change) change(state);
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    for (const listener of listeners) listener();
  });
}

export function addPosts(channelId, posts, { older = false, newer = false } = {}) {
  const order = state.order[channelId] || [];
  const known = new Set(order);
  const fresh = [];
  for (const p of posts) {
    state.posts[p.id] = p;
    if (!known.has(p.id) && !p.root_id) fresh.push(p.id);
  }
  // order is newest first, as the API gives it
  if (older) state.order[channelId] = order.concat(fresh);
  else if (newer) state.order[channelId] = fresh.concat(order);
  else state.order[channelId] = order.concat(fresh);
  if (newer) state.order[channelId].sort((a, b) => state.posts[b].create_at - state.posts[a].create_at);
}

export function displayName(userId) {
  const user = state.users[userId];
  return user ? user.username : userId.slice(0, 8);
}

export function channelName(channel) {
  if (!channel) return "";
  if (channel.type === "D") {
    const other = channel.name.split("__").find((id) => id !== state.me.id) || state.me.id;
    return displayName(other);
  }
  return channel.display_name || channel.name;
}

export function unread(channelId) {
  const channel = state.channels[channelId];
  const member = state.members[channelId];
  if (!channel || !member) return { count: 0, mentions: 0 };
  return { count: Math.max(0, channel.total_msg_count - member.msg_count), mentions: member.mention_count || 0 };
}

export function sidebarOrder() {
  // the order the sidebar shows: channels, then direct and group messages, each by name
  const all = Object.values(state.channels).sort((a, b) => channelName(a).localeCompare(channelName(b)));
  return all.filter((c) => c.type === "O" || c.type === "P").concat(all.filter((c) => c.type === "D" || c.type === "G"));
}
