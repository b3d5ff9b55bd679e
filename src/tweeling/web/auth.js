// Who is using the viewer: sign in (a dialog with username and password; the server sets
// an HttpOnly session cookie and gives the CSRF token for changes), sign out, the person's
// name and role in the header, and their notifications ("your comment was hidden: reason").
// What the person may do (GET /auth/me "may") decides which panels the viewer shows.
import { getJSON, postJSON, setCsrf } from "./api.js";
import { currentLang, t, tf } from "./i18n.js";
import { $, button, el, safeHref } from "./dom.js";

const POLL_MS = 30_000;

export class Auth {
  constructor(state, { onChange, beforeSignOut, message, openComment }) {
    this.state = state;
    this.onChange = onChange;
    this.beforeSignOut = beforeSignOut;
    this.message = message;
    this.openComment = openComment;
    this.unread = 0;
    this.timer = null;
    this.waiting = null; // resolves when someone signs in (a twin that is not public)
    $("sign-in-open").addEventListener("click", () => this.openSignIn());
    $("sign-in-cancel").addEventListener("click", () => $("sign-in").close());
    // see what you typed (OWASP ASVS V2.1.12)
    $("show-password").addEventListener("change", (e) => {
      $("password").type = e.target.checked ? "text" : "password";
    });
    $("sign-in-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.signIn().catch((err) => this.message(err.message));
    });
    $("sign-out").addEventListener("click", () => this.signOut().catch((err) => this.message(err.message)));
    $("notifications-open").addEventListener("click", () => this.openNotifications().catch((err) => this.message(err.message)));
    $("notifications-close").addEventListener("click", () => $("notifications").close());
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.checkNotifications().catch(() => {});
    });
  }

  get me() {
    return this.state.me;
  }

  get signedIn() {
    return Boolean(this.me?.signed_in);
  }

  may(action) {
    return Boolean(this.me?.may?.includes(action));
  }

  /** GET /auth/me: who is asking, their role, what they may do, the CSRF token. */
  async load() {
    const { data } = await getJSON("/auth/me");
    this.state.me = data;
    setCsrf(data.csrf_token);
    this.render();
    clearInterval(this.timer);
    this.timer = null;
    this.unread = 0;
    if (this.signedIn && this.me.person) {
      await this.checkNotifications();
      this.timer = setInterval(() => this.checkNotifications().catch(() => {}), POLL_MS);
    }
    return data;
  }

  render() {
    const me = this.me ?? {};
    const who = $("who");
    if (me.signed_in) {
      const role = me.role ? t(`role_${me.role}`) : "";
      who.textContent = tf("signedInAs", { name: me.person?.display_name || me.name || "", role });
    } else {
      who.textContent = me.twin_public === false ? t("twinPrivate") : "";
    }
    who.title = who.textContent; // shortened when long: the whole name on hover
    $("sign-in-open").hidden = Boolean(me.signed_in);
    $("sign-out").hidden = !me.signed_in || !["session", "oidc"].includes(me.via); // not the local operator
    $("notifications-open").hidden = !(me.signed_in && me.person);
    this.renderUnread();
    document.body.dataset.user = me.person?.username ?? "";
    document.body.dataset.role = me.role ?? "visitor";
  }

  renderUnread() {
    const b = $("notifications-open");
    b.textContent = this.unread ? tf("messagesUnread", { n: this.unread }) : t("messages");
    b.classList.toggle("unread", this.unread > 0);
  }

  openSignIn() {
    $("sign-in-error").textContent = "";
    // an organisation's identity provider, when the twin has one (OpenID Connect)
    const oidc = this.me?.sign_in?.oidc;
    const href = oidc ? safeHref(oidc.href) : null;
    $("sign-in-oidc").hidden = !href;
    if (href) {
      $("sign-in-oidc-link").href = href;
      $("sign-in-oidc-link").textContent = tf("signInWith", { title: oidc.title || "OpenID Connect" });
    }
    $("sign-in").showModal();
    $("username").focus();
  }

  /** For a twin that is not public: ask to sign in and wait until someone did. */
  requireSignIn() {
    this.openSignIn();
    return new Promise((ok) => (this.waiting = ok));
  }

  async signIn() {
    const username = $("username").value.trim();
    const password = $("password").value;
    $("sign-in-error").textContent = "";
    $("sign-in-submit").disabled = true;
    try {
      const { data } = await postJSON("/auth/login", { username, password });
      setCsrf(data.csrf_token);
    } catch (e) {
      $("sign-in-error").textContent = e.status === 401 ? t("signInWrong") : e.message;
      return;
    } finally {
      $("sign-in-submit").disabled = false;
      $("password").value = "";
      $("password").type = "password";
      $("show-password").checked = false;
    }
    $("sign-in").close();
    await this.load();
    if (this.waiting) {
      const ok = this.waiting;
      this.waiting = null;
      ok();
      return;
    }
    await this.onChange();
    $("sign-out").focus();
  }

  async signOut() {
    // Leave what may be private first: a tile still loading when the session ends would
    // ask for a draft the visitor may not see (a 404 in the console, a gap in the map).
    await this.beforeSignOut?.();
    await postJSON("/auth/logout");
    setCsrf(null);
    await this.load();
    if (this.me && this.me.can_read === false) {
      location.reload(); // a twin that is not public: nothing left to show
      return;
    }
    await this.onChange();
    $("sign-in-open").focus();
  }

  async checkNotifications() {
    if (!this.signedIn || !this.me.person) return;
    const { data } = await getJSON("/auth/notifications");
    this.items = data.notifications ?? [];
    this.unread = data.unread ?? 0;
    this.renderUnread();
  }

  async openNotifications() {
    await this.checkNotifications();
    const ul = $("notification-list");
    ul.replaceChildren();
    if (!this.items?.length) ul.append(el("li", t("noMessages")));
    for (const n of this.items ?? []) {
      const li = el("li", undefined, n.read_at ? "read" : "new");
      const when = el("time", new Date(n.at).toLocaleString(currentLang() === "nl" ? "nl-NL" : "en-GB"));
      when.dateTime = n.at;
      li.append(when, el("p", notificationText(n)));
      const link = commentLink(n.link);
      if (link) {
        li.append(
          button(t("showComment"), () => {
            $("notifications").close();
            this.openComment(link.round, link.comment);
          }),
        );
      }
      ul.append(li);
    }
    $("notifications").showModal();
    if (this.unread) {
      await postJSON("/auth/notifications/read");
      this.unread = 0;
      this.renderUnread();
    }
  }
}

function commentLink(link) {
  const m = /\/rounds\/(\d+)\/comments\/(\d+)/.exec(link ?? "");
  return m ? { round: Number(m[1]), comment: Number(m[2]) } : null;
}

/** A notification in the viewer's language (the server writes English). */
export function notificationText(n) {
  const link = commentLink(n.link);
  if (link && n.kind === "comment.hidden") {
    const reason = /Reason: ([\s\S]*)$/.exec(n.text ?? "")?.[1] ?? "";
    return tf("notifHidden", { comment: link.comment, round: link.round, reason });
  }
  if (link && n.kind === "comment.shown") return tf("notifShown", { comment: link.comment, round: link.round });
  return n.text ?? "";
}
