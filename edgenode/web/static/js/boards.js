// Boards, as calls to the node's Boards API (/plugins/focalboard/api/v2, Focalboard's shapes) and
// changes to state.fb; the board views only call these.
import { api } from "./api.js";
import { state, update } from "./store.js";
import { loadUsers, onSocketEvent } from "./actions.js";

const BASE = "/plugins/focalboard/api/v2";
const fb = (method, path, body) => api(method, path, body, BASE);

state.fb = { boards: null, templates: [], board: null, blocks: {}, viewId: null, cardId: null, said: "" };

export async function openBoards() {
  update((s) => { s.view = "boards"; s.threadId = null; s.navOpen = false; s.error = ""; s.fb.boards = null; });
  await loadBoardsPage();
}

async function loadBoardsPage() {
  const [boards, templates] = await Promise.all([fb("GET", `/teams/${state.teamId}/boards`), fb("GET", `/teams/${state.teamId}/templates`)]);
  update((s) => { s.fb.boards = boards.filter((b) => !b.isTemplate); s.fb.templates = templates; });
}

export async function createFromTemplate(templateId) {
  const made = await fb("POST", `/boards/${templateId}/duplicate?asTemplate=false&toTeam=${state.teamId}`);
  await openBoard(made.boards[0].id);
}

export async function openBoard(boardId, viewId) {
  // built afresh each time: what another account saw in this tab is never shown meanwhile
  update((s) => { s.view = "board"; s.threadId = null; s.navOpen = false; s.error = ""; s.fb.cardId = null;
    s.fb.board = null; s.fb.blocks = {}; s.fb.said = ""; });
  await reloadBoard(boardId);
  const views = boardViews();
  const wanted = views.find((v) => v.id === viewId) || views.find((v) => v.id === state.fb.viewId) || views[0];
  update((s) => { s.fb.viewId = wanted ? wanted.id : null; });
}

let generation = 0;  // counts local moves: a reload begun before one would show the card back where it was

async function reloadBoard(boardId) {
  const started = generation;
  const [board, blocks, members] = await Promise.all([fb("GET", `/boards/${boardId}`), fb("GET", `/boards/${boardId}/blocks`),
    fb("GET", `/boards/${boardId}/members`)]);
  await loadUsers(members.map((m) => m.userId));
  if (started !== generation || queued) return;  // a move happened meanwhile: the reload that follows it shows both
  update((s) => {
    s.fb.board = board;
    s.fb.members = members.map((m) => m.userId);
    s.fb.blocks = {};
    for (const b of blocks) if (!b.deleteAt) s.fb.blocks[b.id] = b;
  });
}

export const boardViews = () => Object.values(state.fb.blocks).filter((b) => b.type === "view" && b.fields.viewType !== "calendar")
  .sort((a, b) => (a.title || "").localeCompare(b.title || ""));
export const currentView = () => state.fb.blocks[state.fb.viewId] || null;

export function cardsInOrder(view) {
  // the view's cardOrder (every live card once, as the node computes it), then any card it lacks yet
  const cards = Object.values(state.fb.blocks).filter((b) => b.type === "card" && !b.fields.isTemplate);
  const at = new Map(((view && view.fields.cardOrder) || []).map((id, i) => [id, i]));
  return cards.sort((a, b) => (at.get(a.id) ?? 1e9) - (at.get(b.id) ?? 1e9) || a.createAt - b.createAt);
}

export function contentOf(cardId, type) {
  return Object.values(state.fb.blocks).filter((b) => b.parentId === cardId && b.type === type)
    .sort((a, b) => a.createAt - b.createAt);
}

export function groupProperty(view) {
  const id = view && view.fields.groupById;
  return state.fb.board.cardProperties.find((p) => p.id === id)
    || state.fb.board.cardProperties.find((p) => p.type === "select") || null;
}

export function moveCard(cardId, option, beforeId) {
  // a move across columns sets the grouping property; its place is the view's cardOrder with the card
  // before `beforeId` (or after the column's last card): the node writes one key for it
  const board = state.fb.board;
  const view = currentView();
  const group = groupProperty(view);
  const card = state.fb.blocks[cardId];
  const order = cardsInOrder(view).map((c) => c.id).filter((id) => id !== cardId);
  let at = beforeId ? order.indexOf(beforeId) : -1;
  if (at < 0) {
    const column = order.filter((id) => (state.fb.blocks[id].fields.properties[group.id] || "") === option);
    at = column.length ? order.indexOf(column[column.length - 1]) + 1 : order.length;
  }
  order.splice(at, 0, cardId);
  const changedColumn = (card.fields.properties[group.id] || "") !== option;
  generation += 1;
  update((s) => {  // at once on screen; the node's answer and events confirm it
    if (changedColumn) s.fb.blocks[cardId] = { ...card, fields: { ...card.fields, properties: { ...card.fields.properties, [group.id]: option } } };
    s.fb.blocks[view.id] = { ...view, fields: { ...view.fields, cardOrder: order } };
  });
  // on screen now (the caller announces it); written in order, then read back
  // one move's writes after the previous one's: two quick moves must reach the node in the order made
  queued += 1;
  const write = writes.then(async () => {
    try {
      if (changedColumn) await fb("PATCH", `/cards/${cardId}`, { updatedProperties: { [group.id]: option } });
      await fb("PATCH", `/boards/${board.id}/blocks/${view.id}`, { updatedFields: { cardOrder: order } });
    } finally {
      queued -= 1;
      generation += 1;
      if (!queued) await reloadBoard(board.id).catch(() => {});  // the node's word, once the last move is written
    }
  });
  writes = write.catch(() => {});
  return write;
}
let writes = Promise.resolve();
let queued = 0;

export function announce(text) {
  update((s) => { s.fb.said = text; });
}

export async function addCard(title, option) {
  const view = currentView();
  const group = groupProperty(view);
  const properties = group && option ? { [group.id]: option } : {};
  const now = Date.now();
  await fb("POST", `/boards/${state.fb.board.id}/cards`, { title, boardId: state.fb.board.id, properties,
    contentOrder: [], createAt: now, updateAt: now, type: "card" });
  await reloadBoard(state.fb.board.id);
}

export async function setCardTitle(cardId, title) {
  await fb("PATCH", `/cards/${cardId}`, { title });
  await reloadBoard(state.fb.board.id);
}

export async function setProperty(cardId, propertyId, value) {
  await fb("PATCH", `/cards/${cardId}`, { updatedProperties: { [propertyId]: value } });
  await reloadBoard(state.fb.board.id);
}

export async function addContent(cardId, type, title, fields = {}) {
  const now = Date.now();
  await fb("POST", `/boards/${state.fb.board.id}/blocks`, [{ id: `tmp${now}`, boardId: state.fb.board.id, parentId: cardId,
    type, title, fields, schema: 1, createAt: now, updateAt: now }]);
  await reloadBoard(state.fb.board.id);
}

export async function setChecked(block, checked) {
  generation += 1;  // as clicked, at once; a reload already under way would undo it on screen
  update((s) => { s.fb.blocks[block.id] = { ...block, fields: { ...block.fields, value: checked } }; });
  try {
    await fb("PATCH", `/boards/${state.fb.board.id}/blocks/${block.id}`, { updatedFields: { value: checked } });
  } finally {
    generation += 1;
    await reloadBoard(state.fb.board.id);  // the node's word, refused or not
  }
}

export function openCard(cardId) {
  update((s) => { s.fb.cardId = cardId; });
}

// a peer's change (or another tab's) arrives as Focalboard's events on /api/v4/websocket
let pending = null;
onSocketEvent((message) => {
  if (message.event !== "custom_focalboard_UPDATE_BOARD") return;
  if (state.view === "boards") { loadBoardsPage().catch(() => {}); return; }
  const board = state.fb.board;
  if (state.view !== "board" || !board) return;
  let data = message.data || {};
  if (typeof data.payload === "string") { try { data = JSON.parse(data.payload); } catch { data = {}; } }
  const boardId = (data.board && data.board.id) || (data.block && data.block.boardId) || data.boardId;
  if (boardId && boardId !== board.id) return;
  // events come one per block: reload once for a burst of them
  clearTimeout(pending);
  pending = setTimeout(() => reloadBoard(board.id).catch(() => {}), 60);
});
