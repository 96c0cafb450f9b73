// Live updates through the node's websocket (/api/v4/websocket, authenticated by the session cookie at
// the upgrade); reconnects with backoff, and tells the app when it is back so it can catch up.

export function connect({ onEvent, onState }) {
  let socket = null;
  let delay = 500;
  let closed = false;
  let timer = null;

  function open() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/api/v4/websocket`);
    socket.onopen = () => { delay = 500; onState("open"); };
    socket.onmessage = (message) => {
      let data;
      try { data = JSON.parse(message.data); } catch { return; }
      if (data && data.event) onEvent(data);
    };
    socket.onclose = () => {
      socket = null;
      if (closed) return;
      onState("closed");
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }

  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (socket) socket.close();
    },
    send(action, data) {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ action, seq: Date.now(), data }));
    },
  };
}
