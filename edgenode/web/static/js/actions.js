// What the UI does, as calls to the node's API and changes to the state; views only call these.
import { api, get, post, put, del, ApiError, watchConnection } from "./api.js";
import { state, update, addPosts, unread } from "./store.js";
import { connect } from "./socket.js";
import { CATALOGUES } from "./i18n.js";
import { renderPost } from "./markdown.js";

const PAGE = 30; // two screens of a 1366x768 window; older pages load on scroll
const PREFETCH = 12;
let socket = null;
let deliveryTimer = null;

export function fail(error) {
  update((s) => { s.error = error instanceof Error ? error.message : String(error); });
}

export async function guarded(work) {
  try { return await work(); } catch (error) { fail(error); return undefined; }
}

watchConnection(
  (offline) => { if (state.online === offline) update((s) => { s.online = !offline; }); },
  () => { if (state.me) update((s) => { s.me = null; s.phase = "login"; }); },
);

export async function boot() {
  try {
    state.config = await get("/config/client");
  } catch (error) {
    // the shell came from the service worker's cache: wait for the node to be back, then start
    update((s) => { s.phase = "unreachable"; });
    setTimeout(boot, 3000);
    return;
  }
  if (state.config.NoAccounts === "true") {
    update((s) => { s.phase = "setup"; });
    return;
  }
  try {
    await signedIn(await get("/users/me"));
  } catch (error) {
    update((s) => { s.phase = "login"; });
  }
}

export async function setup({ username, email, password, team }) {
  await post("/users", { username, email, password });
  await login(username, password);
  if (!state.teams.length && team) await createTeam(team);
}

export async function login(loginId, password) {
  const me = await post("/users/login", { login_id: loginId, password });
  await signedIn(me);
}

export async function logout() {
  await guarded(() => post("/users/logout"));
  if (socket) socket.close();
  socket = null;
  clearInterval(deliveryTimer);
  update((s) => {
    Object.assign(s, { me: null, phase: "login", teams: [], teamId: null, channels: {}, members: {}, posts: {},
      order: {}, complete: {}, channelId: null, threadId: null, view: "chat", search: null });
  });
}

async function signedIn(me) {
  state.me = me;
  state.users[me.id] = me;
  await loadLanguage();
  state.teams = await get("/users/me/teams");
  update((s) => { s.phase = "ready"; });
  if (state.teams.length) {
    const wanted = parseHash().teamId;
    await openTeam(state.teams.find((t) => t.id === wanted) ? wanted : state.teams[0].id);
  }
  startSocket();
  clearInterval(deliveryTimer);
  deliveryTimer = setInterval(() => refreshDelivery(), 4000);
}

async function loadLanguage() {
  try {
    const prefs = await get("/users/me/preferences");
    const language = prefs.find((p) => p.category === "display_settings" && p.name === "language");
    state.lang = language && CATALOGUES[language.value] ? language.value : "en";
  } catch { state.lang = "en"; }
  document.documentElement.lang = state.lang;
}

export async function setLanguage(lang) {
  await put("/users/me/preferences", [{ user_id: state.me.id, category: "display_settings", name: "language", value: lang }]);
  document.documentElement.lang = lang;
  update((s) => { s.lang = lang; });
}

export async function createTeam(displayName) {
  const name = displayName.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60) || "team";
  const team = await post("/teams", { name, display_name: displayName, type: "O" });
  state.teams = await get("/users/me/teams");
  await openTeam(team.id);
  return team;
}

export async function openTeam(teamId) {
  state.teamId = teamId;
  await loadChannels();
  const wanted = parseHash().channelId;
  const channels = Object.values(state.channels);
  const target = state.channels[wanted] ? wanted
    : (channels.find((c) => c.name === "town-square") || channels[0] || {}).id;
  if (target) await openChannel(target);
  else update();
  prefetch();
}

async function prefetch() {
  // the newest page of the sidebar's channels, unread ones first, so switching to one is only a render
  // (Mattermost's web app does the same for unread channels); one at a time, not to crowd the node
  const channels = Object.values(state.channels).filter((c) => !state.order[c.id])
    .sort((a, b) => unread(b.id).count - unread(a.id).count).slice(0, PREFETCH);
  for (const channel of channels) {
    if (state.teamId !== channel.team_id && channel.team_id) break;
    await loadPosts(channel.id, { quiet: true });
    await idle();
    // their markdown too, while the user reads: the switch then only builds the DOM
    for (const id of state.order[channel.id] || []) if (state.posts[id]) renderPost(state.posts[id], state.me.username);
  }
}

function idle() {
  return new Promise((done) => (window.requestIdleCallback ? requestIdleCallback(() => done(), { timeout: 500 }) : setTimeout(done, 50)));
}

export async function loadChannels() {
  if (!state.teamId) return;
  const [channels, members] = await Promise.all([
    get(`/users/me/teams/${state.teamId}/channels`),
    get(`/users/me/teams/${state.teamId}/channels/members`),
  ]);
  state.channels = {};
  for (const c of channels) if (!c.delete_at) state.channels[c.id] = c;
  state.members = {};
  for (const m of members) state.members[m.channel_id] = m;
  const others = new Set();
  for (const c of channels) {
    if (c.type === "D") for (const id of c.name.split("__")) others.add(id);
  }
  await loadUsers([...others]);
  update();
}

export async function loadUsers(ids) {
  const missing = [...new Set(ids)].filter((id) => id && !state.users[id]);
  if (!missing.length) return;
  for (const user of await post("/users/ids", missing)) state.users[user.id] = user;
}

export function parseHash() {
  const [teamId, channelId] = location.hash.replace(/^#\/?/, "").split("/");
  return { teamId, channelId };
}

export async function openChannel(channelId) {
  update((s) => { s.channelId = channelId; s.view = "chat"; s.threadId = null; s.error = ""; });
  const hash = `#/${state.teamId}/${channelId}`;
  if (location.hash !== hash) history.replaceState(null, "", hash);
  if (!state.order[channelId]) await loadPosts(channelId);
  await markViewed(channelId);
}

async function markViewed(channelId) {
  const channel = state.channels[channelId];
  const member = state.members[channelId];
  if (!channel || !member) return;
  if (member.msg_count === channel.total_msg_count && !member.mention_count) return;
  member.msg_count = channel.total_msg_count;
  member.mention_count = 0;
  update();
  await guarded(() => post("/channels/members/me/view", { channel_id: channelId }));
}

export async function loadPosts(channelId, { older = false, quiet = false } = {}) {
  if (state.loading[channelId] || (older && state.complete[channelId]) || (quiet && state.order[channelId])) return;
  state.loading[channelId] = true;
  try {
    const order = state.order[channelId] || [];
    const before = older && order.length ? `&before=${order[order.length - 1]}` : "";
    const page = await get(`/channels/${channelId}/posts?per_page=${PAGE}${before}`);
    const posts = page.order.map((id) => page.posts[id]);
    await loadUsers(posts.map((p) => p.user_id));
    addPosts(channelId, posts, { older });
    if (page.order.length < PAGE) state.complete[channelId] = true;
    if (!quiet) refreshDelivery(page.order);
  } catch (error) {
    fail(error);
  } finally {
    state.loading[channelId] = false;
    update();
  }
}

export async function refreshDelivery(ids) {
  // per post, whether another node holds it yet; only our own posts not yet known to have left need asking
  const channelId = state.channelId;
  if (!channelId || !state.me) return;
  const candidates = ids || (state.order[channelId] || []).slice(0, PAGE)
    .concat(state.threadId ? [state.threadId] : []);
  const pending = candidates.filter((id) => state.delivery[id] !== true && state.posts[id]);
  if (!pending.length && ids) return;
  try {
    const answer = await post("/edgenode/delivery", pending.slice(0, 200));
    update((s) => {
      Object.assign(s.delivery, answer.posts);
      s.peersConnected = answer.peers_connected;
    });
  } catch { /* the indicator keeps its last value */ }
}

export async function sendPost(channelId, message, { rootId = "", fileIds = [] } = {}) {
  const text = message.trim();
  if (text.startsWith("/") && !rootId && !fileIds.length) {
    const result = await post("/commands/execute", { channel_id: channelId, team_id: state.teamId, command: text });
    if (result && result.text) update((s) => { s.notice = result.text; });
    return;
  }
  const created = await post("/posts", { channel_id: channelId, message: text, root_id: rootId, file_ids: fileIds });
  received(created);
  setTimeout(() => refreshDelivery([created.id]), 1000);
}

function received(p) {
  if (state.posts[p.id] && state.posts[p.id].update_at >= p.update_at) return;
  const isNew = !state.posts[p.id];
  if (p.root_id) {
    state.posts[p.id] = p;
    const root = state.posts[p.root_id];
    if (root && isNew) root.reply_count = (root.reply_count || 0) + 1;
  } else if (state.order[p.channel_id]) {
    addPosts(p.channel_id, [p], { newer: true });
  } else {
    state.posts[p.id] = p;
  }
  update();
}

export async function uploadFiles(channelId, files) {
  const form = new FormData();
  form.append("channel_id", channelId);
  for (const file of files) form.append("files", file, file.name);
  const answer = await post("/files", form);
  return answer.file_infos;
}

export async function editPost(postId, message) {
  received(await put(`/posts/${postId}/patch`, { message }));
}

export async function deletePost(postId) {
  await del(`/posts/${postId}`);
  removed(postId);
}

function removed(postId) {
  const p = state.posts[postId];
  if (!p) return;
  const order = state.order[p.channel_id];
  if (order) state.order[p.channel_id] = order.filter((id) => id !== postId);
  delete state.posts[postId];
  if (state.threadId === postId) state.threadId = null;
  update();
}

export async function toggleReaction(postId, emoji) {
  const p = state.posts[postId];
  const mine = ((p.metadata && p.metadata.reactions) || []).some((r) => r.user_id === state.me.id && r.emoji_name === emoji);
  if (mine) {
    await del(`/users/${state.me.id}/posts/${postId}/reactions/${encodeURIComponent(emoji)}`);
    reaction(postId, { user_id: state.me.id, emoji_name: emoji }, false);
  } else {
    reaction(postId, await post("/reactions", { user_id: state.me.id, post_id: postId, emoji_name: emoji }), true);
  }
}

function reaction(postId, r, added) {
  const p = state.posts[postId];
  if (!p) return;
  p.metadata = p.metadata || {};
  const list = (p.metadata.reactions || []).filter((x) => !(x.user_id === r.user_id && x.emoji_name === r.emoji_name));
  if (added) list.push(r);
  p.metadata.reactions = list;
  state.posts[postId] = { ...p };
  update();
}

export async function setPinned(postId, pinned) {
  await post(`/posts/${postId}/${pinned ? "pin" : "unpin"}`);
  state.posts[postId] = { ...state.posts[postId], is_pinned: pinned };
  update();
}

export async function openThread(rootId) {
  update((s) => { s.threadId = rootId; });
  const thread = await get(`/posts/${rootId}/thread`);
  const posts = Object.values(thread.posts);
  await loadUsers(posts.map((p) => p.user_id));
  for (const p of posts) state.posts[p.id] = p;
  update();
  refreshDelivery(posts.map((p) => p.id));
}

export function threadPosts(rootId) {
  return Object.values(state.posts).filter((p) => p.id === rootId || p.root_id === rootId)
    .sort((a, b) => a.create_at - b.create_at);
}

export async function search(terms) {
  update((s) => { s.view = "search"; s.search = { terms, results: null }; });
  const found = await post(`/teams/${state.teamId}/posts/search`, { terms, is_or_search: false });
  const posts = found.order.map((id) => found.posts[id]);
  await loadUsers(posts.map((p) => p.user_id));
  update((s) => { s.search = { terms, results: posts }; });
}

export async function createChannel({ displayName, purpose, private: isPrivate }) {
  const name = displayName.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60)
    || `channel-${Date.now()}`;
  const channel = await post("/channels", { team_id: state.teamId, name, display_name: displayName, purpose,
    type: isPrivate ? "P" : "O" });
  await loadChannels();
  await openChannel(channel.id);
}

export async function browseChannels() {
  return get(`/teams/${state.teamId}/channels?per_page=200`);
}

export async function joinChannel(channelId) {
  await post(`/channels/${channelId}/members`, { user_id: state.me.id });
  await loadChannels();
  await openChannel(channelId);
}

export async function leaveChannel(channelId) {
  await del(`/channels/${channelId}/members/${state.me.id}`);
  delete state.order[channelId];
  await loadChannels();
  const next = Object.values(state.channels).find((c) => c.name === "town-square") || Object.values(state.channels)[0];
  if (next) await openChannel(next.id);
}

export async function openDirect(userIds) {
  const others = userIds.filter((id) => id !== state.me.id);
  const channel = others.length <= 1
    ? await post("/channels/direct", [state.me.id, others[0] || state.me.id])
    : await post("/channels/group", [state.me.id, ...others]);
  await loadChannels();
  await openChannel(channel.id);
}

export async function searchUsers(term) {
  const users = await post("/users/search", { term, team_id: state.teamId });
  for (const user of users) state.users[user.id] = user;
  return users;
}

export async function autocompleteUsers(prefix) {
  const found = await get(`/users/autocomplete?in_channel=${state.channelId}&in_team=${state.teamId}&name=${encodeURIComponent(prefix)}`);
  return (found.users || []).concat(found.out_of_channel || []);
}

export async function autocompleteCommands() {
  return get(`/teams/${state.teamId}/commands/autocomplete`);
}

// -- live updates ---------------------------------------------------------------------------------

function startSocket() {
  if (socket) return;
  socket = connect({
    onState(status) {
      const reconnected = status === "open" && state.socket === "closed";
      update((s) => { s.socket = status; s.online = status === "open"; });
      if (reconnected) catchUp();
    },
    onEvent: handleEvent,
  });
}

async function catchUp() {
  // after a gap, what happened meanwhile: the channel list and the open channel's newest page
  await guarded(loadChannels);
  const channelId = state.channelId;
  if (!channelId) return;
  const page = await guarded(() => get(`/channels/${channelId}/posts?per_page=${PAGE}`));
  if (page) {
    addPosts(channelId, page.order.map((id) => page.posts[id]), { newer: true });
    update();
  }
}

const socketListeners = new Set();

export function onSocketEvent(listener) {
  // the other screens' live updates (playbooks, boards): each listener sees every event
  socketListeners.add(listener);
}

async function handleEvent(message) {
  const data = message.data || {};
  for (const listener of socketListeners) { try { listener(message); } catch { /* one screen's fault stays its own */ } }
  switch (message.event) {
    case "posted": {
      const p = JSON.parse(data.post);
      await loadUsers([p.user_id]);
      const channel = state.channels[p.channel_id];
      const isNew = !state.posts[p.id];
      received(p);
      if (channel && isNew) {
        channel.total_msg_count += 1;
        if (p.channel_id === state.channelId && document.visibilityState === "visible") {
          await markViewed(p.channel_id);
        } else if (p.user_id !== state.me.id) {
          const mentions = data.mentions ? JSON.parse(data.mentions) : [];
          if (mentions.includes(state.me.id) || channel.type === "D") state.members[p.channel_id].mention_count += 1;
        } else {
          state.members[p.channel_id].msg_count += 1;
        }
      } else if (!channel) {
        await guarded(loadChannels);
      }
      update();
      break;
    }
    case "post_edited":
      received(JSON.parse(data.post));
      break;
    case "post_deleted":
      removed(JSON.parse(data.post).id);
      break;
    case "reaction_added":
    case "reaction_removed": {
      const r = JSON.parse(data.reaction);
      reaction(r.post_id, r, message.event === "reaction_added");
      break;
    }
    case "channel_created":
    case "channel_updated":
    case "channel_deleted":
    case "user_added":
    case "user_removed":
    case "direct_added":
    case "group_added":
      await guarded(loadChannels);
      break;
    default:
      break;
  }
}

export { ApiError, api };
