/* Dictation: a short-lived Deepgram token from Parley, then Deepgram's live socket types into the composer. */
(function () {
  "use strict";
  const P = window.Parley;
  const LIVE_QUERY = "?model=nova-3&interim_results=true&smart_format=true&punctuate=true";

  P.voiceInput = function ({ button, input, liveUrl, onChange }) {
    const label = document.getElementById("mic-label");
    let session = null; // {socket, recorder, media, base, interim}

    function show(listening) {
      button.classList.toggle("listening", listening);
      button.setAttribute("aria-pressed", listening ? "true" : "false");
      button.title = listening ? "Stop dictating" : "Dictate (speech to text)";
      if (label) label.hidden = !listening;
    }
    function write(s) {
      const joiner = s.base && !/\s$/.test(s.base) && s.interim ? " " : "";
      input.value = s.base + joiner + s.interim;
      if (onChange) onChange();
    }
    function stop() {
      const s = session;
      session = null;
      show(false);
      if (!s) return;
      if (s.recorder && s.recorder.state !== "inactive") s.recorder.stop();
      if (s.media) s.media.getTracks().forEach((t) => t.stop());
      if (s.socket && s.socket.readyState === WebSocket.OPEN) {
        s.socket.send(JSON.stringify({ type: "CloseStream" }));
        s.socket.close();
      }
      s.interim = "";
      write(s);
    }
    async function start() {
      let token;
      try {
        token = (await P.api("POST", "/api/v1/stt/deepgram/token/", {})).access_token;
      } catch (err) {
        P.toast("Dictation is unavailable: " + err.message);
        return;
      }
      let media;
      try {
        media = await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch (err) {
        P.toast("The microphone is blocked or missing: allow it to dictate.");
        return;
      }
      const s = { media, base: input.value, interim: "", socket: null, recorder: null };
      session = s;
      show(true);
      const socket = new WebSocket(liveUrl + LIVE_QUERY, ["bearer", token]);
      s.socket = socket;
      socket.onopen = () => {
        const recorder = new MediaRecorder(media);
        s.recorder = recorder;
        recorder.ondataavailable = (e) => {
          if (e.data && e.data.size && socket.readyState === WebSocket.OPEN) socket.send(e.data);
        };
        recorder.start(250);
      };
      socket.onmessage = (msg) => {
        let data;
        try {
          data = JSON.parse(msg.data);
        } catch (e) {
          return;
        }
        const alt = data && data.channel && data.channel.alternatives && data.channel.alternatives[0];
        if (!alt || session !== s) return;
        const text = alt.transcript || "";
        if (data.is_final) {
          if (text) s.base += (s.base && !/\s$/.test(s.base) ? " " : "") + text;
          s.interim = "";
        } else s.interim = text;
        write(s);
      };
      socket.onerror = () => session === s && P.toast("The connection to the speech service failed.");
      socket.onclose = () => session === s && stop();
    }
    button.addEventListener("click", () => (session ? stop() : start()));
  };
})();
