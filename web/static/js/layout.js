// The responsive shell. At 1100 px and wider: three columns, the session list can be collapsed.
// Narrower: the session list and the Findings/PIR panel become drawers over the conversation,
// opened from the header, so nothing is ever out of reach and nothing scrolls sideways.

const NARROW = window.matchMedia("(max-width: 1099.98px)");

export class Layout {
  constructor({ layout, scrim, sessionsButton, sideButton, closeSide }) {
    Object.assign(this, { layout, scrim, sessionsButton, sideButton, closeSide });
    sessionsButton.addEventListener("click", () => this.toggleSessions());
    sideButton.addEventListener("click", () => this.setSide(!this.layout.classList.contains("side-open")));
    closeSide.addEventListener("click", () => this.setSide(false));
    scrim.addEventListener("click", () => this.closeDrawers());
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") this.closeDrawers(); });
    NARROW.addEventListener("change", () => this.closeDrawers());
    // The PIR feature (pir.js) opens its panel inside the side column: bring the drawer along.
    document.addEventListener("click", (e) => {
      if (e.target.closest?.("[data-pir=open]") && !document.getElementById("pir-panel")?.hidden) this.showSide();
    });
  }

  get narrow() {
    return NARROW.matches;
  }

  toggleSessions() {
    if (this.narrow) {
      this.setSessions(!this.layout.classList.contains("sessions-open"));
    } else {
      const collapsed = this.layout.classList.toggle("sessions-collapsed");
      this.sessionsButton.setAttribute("aria-expanded", String(!collapsed));
    }
  }

  setSessions(open) {
    if (open) this.setSide(false);
    this.layout.classList.toggle("sessions-open", open);
    this.sessionsButton.setAttribute("aria-expanded", String(open));
    this.syncScrim();
  }

  setSide(open) {
    if (open) this.setSessions(false);
    const was = this.layout.classList.contains("side-open");
    this.layout.classList.toggle("side-open", open);
    if (this.narrow && open && !was) this.closeSide.focus({ preventScroll: true }); // keyboard users land inside
    if (this.narrow && !open && was) this.sideButton.focus({ preventScroll: true });
    this.sideButton.setAttribute("aria-expanded", String(open));
    this.syncScrim();
  }

  /** Show the Findings/PIR column: a drawer when narrow, always there when wide. */
  showSide() {
    if (this.narrow) this.setSide(true);
  }

  /** After picking a session on a phone, get the list out of the way. */
  closeDrawers() {
    this.setSessions(false);
    this.setSide(false);
  }

  syncScrim() {
    const open = this.narrow && (this.layout.classList.contains("sessions-open") ||
      this.layout.classList.contains("side-open"));
    this.scrim.hidden = !open;
  }
}
