// The web view: reads snapshots from api/events (Server-Sent Events) and
// draws them. Every value from the router is set with textContent, never
// as HTML: authids and topics are the clients' choice.
'use strict';

const state = {
  realm: '',     // the realm whose subscriptions and registrations are shown
  search: '',    // the session lookup
  last: null,    // the latest snapshot, for rates
  source: null,  // the EventSource
  retry: 0,      // the timer of the next try after the stream was refused
  retryDelay: 2000,
  confirming: '' // the session whose kill button asks for confirmation
};

const $ = (sel) => document.querySelector(sel);
const fmt = new Intl.NumberFormat('en-US');
const fmtRate = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    tr.appendChild(c instanceof Node ? c : el('td', c));
  }
  return tr;
}

function num(v) { return el('td', fmt.format(v), 'num'); }

function fill(tbody, rows, cols, empty) {
  tbody.replaceChildren(...rows);
  if (rows.length === 0) {
    const td = el('td', empty, 'empty');
    td.colSpan = cols;
    tbody.appendChild(row([td]));
  }
}

function setMetric(name, text, nonzero) {
  const e = document.querySelector(`[data-metric="${name}"]`);
  e.textContent = text;
  e.classList.toggle('nonzero', !!nonzero);
}

function ago(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.floor(s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function duration(sec) {
  const d = Math.floor(sec / 86400), h = Math.floor((sec % 86400) / 3600), m = Math.floor((sec % 3600) / 60);
  if (d > 0) return `up ${d}d ${h}h`;
  if (h > 0) return `up ${h}h ${m}m`;
  return `up ${m}m ${Math.floor(sec % 60)}s`;
}

// rates returns messages per second by type, in and out, since prev.
function rates(cur, prev) {
  const out = {};
  const dt = prev ? (Date.parse(cur.time) - Date.parse(prev.time)) / 1000 : 0;
  for (const t of Object.keys(cur.received)) {
    const r = dt > 0 ? Math.max(0, cur.received[t] - (prev.received[t] || 0)) / dt : 0;
    const s = dt > 0 ? Math.max(0, cur.sent[t] - (prev.sent[t] || 0)) / dt : 0;
    out[t] = { in: r, out: s };
  }
  return out;
}

function render(s) {
  const prev = state.last;
  state.last = s;
  const r = rates(s, prev && Date.parse(s.time) > Date.parse(prev.time) ? prev : null);

  $('#version').textContent = s.version ? `version ${s.version}` : '';
  $('#uptime').textContent = duration(s.uptime_seconds);
  $('#user').textContent = s.user ? `${s.user}${s.admin ? ' (admin)' : ''}` : '';

  let inRate = 0, outRate = 0;
  for (const t in r) { inRate += r[t].in; outRate += r[t].out; }
  const conns = (s.connections || []).filter((c) => c.transport !== 'http').reduce((n, c) => n + c.open, 0);
  const inflight = s.realms.reduce((n, x) => n + x.calls_in_flight, 0);
  setMetric('sessions', fmt.format(s.sessions));
  setMetric('rate-in', prev ? fmtRate.format(inRate) : '–');
  setMetric('rate-out', prev ? fmtRate.format(outRate) : '–');
  setMetric('connections', fmt.format(conns));
  setMetric('calls-in-flight', fmt.format(inflight));
  setMetric('events-dropped', fmt.format(s.events_dropped), s.events_dropped > 0);
  setMetric('slow-consumers', fmt.format(s.slow_consumers_disconnected), s.slow_consumers_disconnected > 0);

  // Realms.
  fill($('#realms tbody'), s.realms.map((x) => {
    const name = el('td', x.name, 'mono');
    if (x.from_template) name.appendChild(el('span', ' (template)', 'muted'));
    const tr = row([name, num(x.sessions), num(x.subscriptions), num(x.registrations), num(x.calls_in_flight)]);
    tr.dataset.realm = x.name;
    tr.classList.toggle('selected', x.name === s.realm);
    tr.addEventListener('click', () => { state.realm = x.name; connect(); });
    return tr;
  }), 5, 'no realms');

  // Messages by type: those seen at all, busiest first.
  const types = Object.keys(s.received).filter((t) => s.received[t] > 0 || s.sent[t] > 0);
  types.sort((a, b) => (r[b].in + r[b].out) - (r[a].in + r[a].out) || (s.received[b] + s.sent[b]) - (s.received[a] + s.sent[a]));
  const peak = Math.max(1, ...types.map((t) => r[t].in + r[t].out));
  fill($('#messages tbody'), types.map((t) => {
    const name = el('td');
    const bar = el('span', null, 'bar');
    bar.style.width = `${Math.round(40 * (r[t].in + r[t].out) / peak)}px`;
    name.append(bar, el('span', t, 'mono'));
    return row([name, el('td', prev ? fmtRate.format(r[t].in) : '–', 'num'), el('td', prev ? fmtRate.format(r[t].out) : '–', 'num'),
      num(s.received[t]), num(s.sent[t])]);
  }), 5, 'no messages yet');

  // Subscriptions and registrations of the selected realm.
  for (const e of document.querySelectorAll('.realm-name')) e.textContent = s.realm ? `in ${s.realm}` : '';
  fill($('#subscriptions tbody'), s.subscriptions.map((x) =>
    row([el('td', x.topic, 'mono'), el('td', x.match), num(x.subscribers)])), 3, 'no subscriptions');
  $('#subscriptions-more').textContent = s.subscriptions_total > s.subscriptions.length
    ? `The ${s.subscriptions.length} with the most subscribers of ${fmt.format(s.subscriptions_total)}.` : '';
  fill($('#registrations tbody'), s.registrations.map((x) =>
    row([el('td', x.procedure, 'mono'), el('td', x.match), el('td', x.invoke), num(x.callees)])), 4, 'no registrations');
  $('#registrations-more').textContent = s.registrations_total > s.registrations.length
    ? `The ${s.registrations.length} with the most callees of ${fmt.format(s.registrations_total)}.` : '';

  // Slow consumers.
  $('[data-metric="events-dropped-text"]').textContent =
    `${fmt.format(s.events_dropped)} events dropped for subscribers that did not keep up;`;
  $('[data-metric="slow-consumers-text"]').textContent =
    `${fmt.format(s.slow_consumers_disconnected)} sessions disconnected because their queue was full. The latest:`;
  fill($('#slow tbody'), (s.recent_slow_consumers || []).map((x) => {
    const when = el('td', ago(x.time));
    when.title = x.time;
    return row([when, el('td', x.realm, 'mono'), el('td', x.session, 'mono'), el('td', x.authid), el('td', x.address, 'mono'), el('td', x.message)]);
  }), 6, 'none');

  // Connections, refused handshakes, logins: the lines that ever moved.
  fill($('#connections tbody'), (s.connections || []).filter((c) => c.total > 0).map((c) =>
    row([el('td', c.transport), el('td', c.engine), num(c.open), num(c.total)])), 4, 'none yet');
  fill($('#refused tbody'), Object.keys(s.refused || {}).filter((r) => s.refused[r] > 0).sort().map((r) =>
    row([el('td', r, 'mono'), num(s.refused[r])])), 2, 'none');
  const logins = {};
  for (const a of s.authentications || []) {
    logins[a.method] = logins[a.method] || { success: 0, failure: 0 };
    logins[a.method][a.outcome] = a.count;
  }
  fill($('#logins tbody'), Object.keys(logins).sort().map((m) =>
    row([el('td', m), num(logins[m].success), num(logins[m].failure)])), 3, 'none yet');

  // Sessions.
  $('#matched').textContent =
    `${fmt.format(s.sessions_matched)} ${state.search ? 'matching' : 'sessions'}${s.sessions_matched > s.session_list.length ? `, the ${s.session_list.length} newest shown` : ''}`;
  $('#kill-hint').textContent = s.admin ? '' : 'Killing a session needs an admin login (admin section of the config).';
  fill($('#sessions tbody'), s.session_list.map((x) => {
    const id = el('td', x.id, 'mono');
    if (x.dropping_events) id.appendChild(el('span', 'dropping events', 'dropping'));
    const since = el('td', ago(x.since));
    since.title = x.since;
    const action = el('td');
    if (s.admin) action.appendChild(killButton(x));
    const tr = row([id, el('td', x.realm, 'mono'), el('td', x.authid), el('td', x.authrole), el('td', x.transport), el('td', x.serializer),
      el('td', x.address, 'mono'), since, action]);
    tr.dataset.session = x.id;
    return tr;
  }), 9, state.search ? 'no session matches' : 'no sessions');
}

// killButton asks once for confirmation, then kills the session.
function killButton(x) {
  const b = el('button', state.confirming === x.id ? 'Confirm kill' : 'Kill');
  b.dataset.action = 'kill';
  b.classList.toggle('confirm', state.confirming === x.id);
  b.addEventListener('click', async () => {
    if (state.confirming !== x.id) {
      state.confirming = x.id;
      b.textContent = 'Confirm kill';
      b.classList.add('confirm');
      return;
    }
    state.confirming = '';
    b.disabled = true;
    b.textContent = 'Killing…';
    const resp = await fetch('api/kill', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ realm: x.realm, session: x.id, message: 'killed from the Junction web view' })
    });
    b.textContent = resp.ok ? 'Killed' : `Failed (${resp.status})`;
  });
  return b;
}

function connect() {
  if (state.source) state.source.close();
  clearTimeout(state.retry);
  const q = new URLSearchParams({ realm: state.realm, q: state.search, limit: '50' });
  const src = new EventSource(`api/events?${q}`);
  state.source = src;
  state.last = null;
  const status = $('#status');
  src.addEventListener('snapshot', (ev) => {
    state.retryDelay = 2000;
    status.dataset.state = 'live';
    status.textContent = 'live';
    render(JSON.parse(ev.data));
  });
  src.onerror = () => {
    if (src !== state.source) return;
    if (src.readyState === EventSource.CLOSED) {
      // Refused (503 with too many views open, 401, 403): EventSource
      // gives up for good, so the page tries again, less and less often.
      status.dataset.state = 'refused';
      status.textContent = 'refused, trying again';
      state.retry = setTimeout(connect, state.retryDelay);
      state.retryDelay = Math.min(2 * state.retryDelay, 60000);
      return;
    }
    status.dataset.state = 'reconnecting';
    status.textContent = 'reconnecting';
  };
}

let searchTimer = 0;
$('#search').addEventListener('input', (ev) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => { state.search = ev.target.value.trim(); connect(); }, 250);
});

connect();
