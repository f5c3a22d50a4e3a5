// ragqa chat page: streams answers from /v1/chat/completions and opens cited spans.
"use strict";

const $ = (id) => document.getElementById(id);
const conversation = $("conversation");
const messages = []; // the chat history sent with every request
const keyInput = $("api-key");
keyInput.value = localStorage.getItem("ragqa-key") || "";
keyInput.addEventListener("change", () => localStorage.setItem("ragqa-key", keyInput.value));

function headers() {
  const h = { "Content-Type": "application/json" };
  if (keyInput.value) h.Authorization = `Bearer ${keyInput.value}`;
  return h;
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function bubble(role, text) {
  const el = document.createElement("div");
  el.className = `msg ${role}`;
  el.textContent = text || "";
  conversation.querySelector(".hint")?.remove();
  conversation.appendChild(el);
  el.scrollIntoView({ block: "end" });
  return el;
}

// Markers become buttons once the citations they point at are known.
function render(el, text, citations) {
  let html = escapeHtml(text);
  if (citations) {
    html = html.replace(/\[(\d+)\]/g, (m, n) =>
      citations[Number(n) - 1] ? `<button type="button" class="cite" data-index="${n}">${n}</button>` : m);
  }
  el.innerHTML = html;
  el.querySelectorAll("button.cite").forEach((b) =>
    b.addEventListener("click", () => openCitation(citations[Number(b.dataset.index) - 1])));
}

async function openCitation(c) {
  const viewer = $("viewer");
  $("viewer-title").textContent = `[${c.index}] ${c.title}`;
  const meta = [c.site_name, c.published].filter(Boolean).join(" · ");
  // Only an http(s) URL becomes a link; the server withholds any other, and so does the page.
  const link = c.url && /^https?:\/\//i.test(c.url)
    ? `<a href="${escapeHtml(c.url)}" target="_blank" rel="noopener">${escapeHtml(c.url)}</a>`
    : escapeHtml(c.source);
  $("viewer-meta").innerHTML = [escapeHtml(meta), link].filter(Boolean).join(" · ");
  $("viewer-text").textContent = "Loading…";
  viewer.hidden = false;
  const res = await fetch(`/v1/documents/${encodeURIComponent(c.doc_id)}`, { headers: headers() });
  if (!res.ok) {
    $("viewer-text").textContent = `Could not load the document (HTTP ${res.status}).`;
    return;
  }
  const doc = await res.json();
  const t = doc.text;
  $("viewer-text").innerHTML = escapeHtml(t.slice(0, c.start)) + "<mark>" +
    escapeHtml(t.slice(c.start, c.end)) + "</mark>" + escapeHtml(t.slice(c.end));
  $("viewer-text").querySelector("mark").scrollIntoView({ block: "center" });
}
$("viewer-close").addEventListener("click", () => { $("viewer").hidden = true; });

async function errorText(res) {
  try { return (await res.json()).error.message; } catch { return `HTTP ${res.status}`; }
}

async function ask(question) {
  bubble("user", question);
  messages.push({ role: "user", content: question });
  const el = bubble("assistant pending", "");
  let text = "";
  let done = false;
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(),
      body: JSON.stringify({ model: "ragqa", messages, stream: true }),
    });
    if (!res.ok) throw new Error(await errorText(res));
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    while (!done) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") { done = true; break; }
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        const choice = chunk.choices[0];
        if (choice.delta.content) { text += choice.delta.content; render(el, text, null); }
        if (choice.finish_reason) {
          render(el, text, chunk.citations);
          if (chunk.ragqa && !chunk.ragqa.answer_found) {
            el.classList.add("not-found");
            el.insertAdjacentHTML("afterbegin", '<span class="badge">Not found in the corpus</span>\n');
          }
        }
      }
    }
    messages.push({ role: "assistant", content: text });
  } catch (err) {
    el.classList.add("error");
    el.textContent = `Error: ${err.message}`;
    messages.pop();
  } finally {
    el.classList.remove("pending");
    el.classList.add("done");
  }
}

const form = $("ask");
const input = $("question");
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const q = input.value.trim();
  if (!q) return;
  input.value = "";
  $("send").disabled = true;
  try { await ask(q); } finally { $("send").disabled = false; input.focus(); }
});
input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
});
