// What the session list shows: search, target/state filters, and titles that can be told apart.

/** Sessions matching the search words (in title, target or id), the target and the state. */
export function filterSessions(sessions, { query = "", target = "", state = "" } = {}) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  return sessions.filter((s) => {
    if (target && s.target !== target) return false;
    if (state && s.status !== state) return false;
    const hay = `${s.title || ""} ${s.target} ${s.id}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

/** id -> the title to show: sessions that share a title are numbered by age ("… (2)"). */
export function distinctTitles(sessions) {
  const groups = new Map();
  for (const s of sessions) {
    const title = s.title || "Untitled session";
    if (!groups.has(title)) groups.set(title, []);
    groups.get(title).push(s);
  }
  const names = new Map();
  for (const [title, group] of groups) {
    const byAge = [...group].sort((a, b) => a.created_at.localeCompare(b.created_at));
    byAge.forEach((s, i) => names.set(s.id, group.length > 1 ? `${title} (${i + 1})` : title));
  }
  return names;
}

/** The targets present, for the filter's options. */
export function targetsOf(sessions) {
  return [...new Set(sessions.map((s) => s.target))].sort();
}
