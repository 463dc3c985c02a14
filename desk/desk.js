// ticketd desk: live updates through server-sent events, times that stay
// relative, and filters that apply themselves. Every page works without
// this script; it only spares the reloads.

// The server's clock, less ours: times are counted from the server's now.
const skew = (Date.parse(document.body.dataset.now || '') || Date.now()) - Date.now();
const serverNow = () => Date.now() + skew;

const minute = 60e3, hour = 60 * minute, day = 24 * hour;
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// relative says what the server's relativeTime says (desk.go).
function relative(then, now) {
  const d = now - then;
  if (d < 45e3) return 'just now';
  if (d < hour) return `${Math.max(1, Math.round(d / minute))} min ago`;
  if (d < day) return `${Math.floor(d / hour)} h ago`;
  if (d < 2 * day) return 'yesterday';
  if (d < 7 * day) return `${Math.floor(d / day)} days ago`;
  const t = new Date(then), n = new Date(now);
  const date = `${t.getUTCDate()} ${months[t.getUTCMonth()]}`;
  return t.getUTCFullYear() === n.getUTCFullYear() ? date : `${date} ${t.getUTCFullYear()}`;
}

function refreshTimes(root) {
  const now = serverNow();
  for (const el of root.querySelectorAll('time[data-rel]')) {
    const t = Date.parse(el.getAttribute('datetime'));
    if (Number.isNaN(t)) continue;
    el.textContent = relative(t, now);
    el.title = new Date(t).toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'long' });
  }
}

refreshTimes(document);
setInterval(() => refreshTimes(document), 30e3);

// Filters apply as soon as a choice changes.
for (const form of document.querySelectorAll('form[data-autosubmit]')) {
  for (const select of form.querySelectorAll('select')) {
    select.addEventListener('change', () => form.requestSubmit());
  }
}

const state = document.getElementById('live-state');
function say(text) {
  if (!state) return;
  state.hidden = !text;
  state.textContent = text || '';
}

// busy reports whether a region holds something the user is in the middle
// of: focus, or a field changed and not yet sent. Such a region is left as
// it is.
function busy(region) {
  const active = document.activeElement;
  if (active && active !== document.body && region.contains(active) && active.matches('input, textarea, select')) return true;
  for (const el of region.querySelectorAll('input, textarea, select')) {
    if (el.type === 'checkbox' || el.type === 'radio') {
      if (el.checked !== el.defaultChecked) return true;
    } else if (el.tagName === 'SELECT') {
      for (const o of el.options) if (o.selected !== o.defaultSelected) return true;
    } else if (el.type !== 'hidden' && el.value !== el.defaultValue) {
      return true;
    }
  }
  return false;
}

// swap puts the fresh page's live regions in place of this page's.
function swap(doc) {
  for (const old of document.querySelectorAll('[data-live]')) {
    const next = doc.getElementById(old.id);
    if (!next || busy(old)) continue;
    const seen = new Set([...old.querySelectorAll('[data-case]')].map((e) => e.dataset.case));
    const adopted = document.importNode(next, true);
    old.replaceWith(adopted);
    if (seen.size) {
      for (const row of adopted.querySelectorAll('[data-case]')) {
        if (!seen.has(row.dataset.case)) row.classList.add('fresh');
      }
    }
    refreshTimes(adopted);
  }
}

// Once the page is being left (a form sent, a link followed), it no longer
// refreshes itself: a reload then would cancel the navigation.
let leaving = false;
document.addEventListener('submit', (e) => { if (!e.defaultPrevented) leaving = true; });
window.addEventListener('beforeunload', () => { leaving = true; });
window.addEventListener('pageshow', () => { leaving = false; });

let running = false, again = false;
async function refresh() {
  if (leaving) return;
  if (running) { again = true; return; }
  running = true;
  try {
    const res = await fetch(location.href, { headers: { 'X-Desk-Live': '1' }, credentials: 'same-origin', cache: 'no-store' });
    const path = new URL(res.url).pathname;
    if (leaving) return;
    if (res.status === 404 || (res.redirected && path !== location.pathname)) {
      location.reload(); // gone, or signed out: the server says what to do
      return;
    }
    if (res.ok) swap(new DOMParser().parseFromString(await res.text(), 'text/html'));
  } catch (e) {
    // The next change, or the reconnect, tries again.
  } finally {
    running = false;
    if (again) { again = false; refresh(); }
  }
}

const events = document.body.dataset.events;
if (events && window.EventSource) {
  const source = new EventSource(events);
  source.addEventListener('change', refresh);
  source.addEventListener('ended', () => { source.close(); location.reload(); });
  source.addEventListener('open', () => say(''));
  source.addEventListener('error', () => {
    say(source.readyState === EventSource.CLOSED ? 'Live updates stopped: reload the page to see changes.' : 'Reconnecting…');
  });
}
