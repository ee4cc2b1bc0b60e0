/* Pledge cookie banner. No dependencies.
 *
 * Scripts of a non-essential category are written as
 *   <script type="text/plain" data-pledge-category="analytics" src="..."></script>
 * and run only once their category is accepted; frames and images likewise wait with
 * data-src instead of src. Any element with `data-pledge-open`
 * reopens the choice, as does `Pledge.open()`.
 */
(function () {
  "use strict";
  if (window.Pledge) return;

  var script = document.currentScript;
  var base = script && script.src ? new URL(script.src).origin : location.origin;
  var STORE_SUBJECT = "pledge.subject";
  var STORE_CHOICE = "pledge.choice";
  var gpc = navigator.globalPrivacyControl === true;
  var config = null;
  var choice = null;
  var root = null;
  var opener = null;
  var listeners = [];

  function load(key) {
    try {
      var text = localStorage.getItem(key);
      return text ? JSON.parse(text) : null;
    } catch (e) {
      return null;
    }
  }

  function save(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
      /* private mode: the choice holds for this page only */
    }
  }

  /* The anonymous subject: a random id kept in this site's storage. */
  function subject() {
    var id = load(STORE_SUBJECT);
    if (typeof id === "string" && /^[0-9a-f]{32}$/.test(id)) return id;
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    id = Array.prototype.map
      .call(bytes, function (b) { return (b + 256).toString(16).slice(1); })
      .join("");
    save(STORE_SUBJECT, id);
    return id;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  /* `session`, or an ISO 8601 duration (`P1Y`, `P13M`, `P30D`, `PT12H`) in words. */
  function lifetime(duration) {
    if (!duration) return "not stated";
    if (duration === "session") return "until the browser is closed";
    var m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(duration);
    if (!m) return duration;
    var units = ["year", "month", "week", "day", "hour", "minute", "second"];
    var parts = [];
    for (var i = 0; i < units.length; i++) {
      var n = m[i + 1] ? parseInt(m[i + 1], 10) : 0;
      if (n) parts.push(n + " " + units[i] + (n === 1 ? "" : "s"));
    }
    return parts.length ? parts.join(" ") : duration;
  }

  function optional(category) {
    return !category.essential;
  }

  function blockedByGpc(category) {
    return gpc && category.gpc_opt_out;
  }

  /* Whether a category may run under the current choice. */
  function allowed(id) {
    var category = (config.categories || []).filter(function (c) { return c.id === id; })[0];
    if (!category) return false;
    if (category.essential) return true;
    if (blockedByGpc(category)) return false;
    return !!(choice && choice.categories && choice.categories[id] === true);
  }

  /* Replaces each waiting script of an allowed category by a live copy, in document order. */
  function activate() {
    var waiting = document.querySelectorAll('script[type="text/plain"][data-pledge-category]');
    Array.prototype.forEach.call(waiting, function (old) {
      if (!allowed(old.getAttribute("data-pledge-category"))) return;
      var live = document.createElement("script");
      Array.prototype.forEach.call(old.attributes, function (a) {
        if (a.name !== "type") live.setAttribute(a.name, a.value);
      });
      live.type = old.getAttribute("data-pledge-type") || "text/javascript";
      if (!old.src) live.text = old.text;
      else live.async = false;
      old.parentNode.replaceChild(live, old);
    });
    /* Frames, images and pixels wait with data-src instead of src. */
    var held = document.querySelectorAll("[data-pledge-category][data-src]");
    Array.prototype.forEach.call(held, function (node) {
      if (!allowed(node.getAttribute("data-pledge-category"))) return;
      node.setAttribute("src", node.getAttribute("data-src"));
      node.removeAttribute("data-src");
    });
  }

  /* Expires the declared cookies of categories that are no longer allowed. */
  function forget() {
    (config.categories || []).forEach(function (c) {
      if (allowed(c.id)) return;
      (c.trackers || []).forEach(function (t) {
        if (t.kind !== "cookie") return;
        document.cookie = encodeURIComponent(t.name) + "=; Max-Age=0; path=/";
      });
    });
  }

  function current() {
    return choice;
  }

  function stale(stored) {
    if (!stored || stored.text_hash !== config.text_hash) return true;
    if (config.reask_after_days && stored.at) {
      return Date.now() - stored.at > config.reask_after_days * 86400000;
    }
    return false;
  }

  /* Choices are sent one after the other, so the ledger gets them in the order made. */
  var queue = Promise.resolve();

  function send(record) {
    var attempt = queue.then(function () { return post(record); });
    queue = attempt.catch(function () { /* the next choice is sent anyway */ });
    return attempt;
  }

  function post(record) {
    var body = JSON.stringify({
      subject: record.subject,
      notice_version: config.notice.version,
      text_hash: config.text_hash,
      categories: record.categories,
      gpc: gpc
    });
    return fetch(base + "/banner/consent", {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      keepalive: true,
      headers: { "Content-Type": "application/json" },
      body: body
    }).then(function (r) {
      if (!r.ok) throw new Error("the consent was not recorded: " + r.status);
      record.pending = false;
      /* A newer choice made meanwhile stays the stored one. */
      if (choice === record) save(STORE_CHOICE, record);
    });
  }

  /* Records a choice: every optional category with true (accepted) or false (refused). */
  function decide(accepted) {
    var categories = {};
    var withdrawn = false;
    config.categories.filter(optional).forEach(function (c) {
      var on = accepted(c) && !blockedByGpc(c);
      if (!on && choice && choice.categories && choice.categories[c.id] === true) withdrawn = true;
      categories[c.id] = on;
    });
    var record = {
      subject: subject(),
      text_hash: config.text_hash,
      categories: categories,
      at: Date.now(),
      pending: true
    };
    choice = record;
    save(STORE_CHOICE, record);
    close();
    announce(config.texts.saved);
    var sent = send(record).catch(function () { /* sent again on the next page */ });
    forget();
    if (withdrawn) {
      /* Scripts that already ran cannot be unloaded: a fresh page runs only what is allowed. */
      sent.then(function () { location.reload(); });
      return;
    }
    activate();
    listeners.forEach(function (f) { try { f(record); } catch (e) { /* not ours */ } });
  }

  /* Tells screen readers what happened, through a polite live region. */
  function announce(text) {
    var region = document.getElementById("pledge-status");
    if (!region) {
      region = el("div", { id: "pledge-status", "class": "pledge-sr", role: "status" });
      document.body.appendChild(region);
    }
    region.textContent = text;
  }

  function close() {
    if (root) {
      root.hidden = true;
    }
    if (opener && document.contains(opener)) opener.focus();
    opener = null;
  }

  function button(text, action, extra) {
    var b = el("button", Object.assign({ type: "button", "class": "pledge-button" }, extra || {}), []);
    b.textContent = text;
    b.addEventListener("click", action);
    return b;
  }

  function build() {
    var t = config.texts;
    var title = el("h2", { id: "pledge-title", "class": "pledge-title", text: t.title });
    var intro = el("p", { id: "pledge-intro" }, []);
    intro.appendChild(document.createTextNode(t.intro));
    if (config.notice.url) {
      intro.appendChild(document.createTextNode(" "));
      intro.appendChild(el("a", { href: config.notice.url, text: t.notice_link }));
    }
    if (gpc) {
      intro.appendChild(el("span", { "class": "pledge-gpc", text: " " + t.gpc }));
    }

    var list = el("fieldset", { "class": "pledge-categories" }, [el("legend", { text: t.categories })]);
    config.categories.forEach(function (c) {
      var id = "pledge-cat-" + c.id;
      var box = el("input", { type: "checkbox", id: id, name: c.id, "aria-describedby": id + "-desc" });
      if (c.essential) {
        box.checked = true;
        box.disabled = true;
      } else if (blockedByGpc(c)) {
        box.checked = false;
        box.disabled = true;
      } else {
        box.checked = !!(choice && choice.categories && choice.categories[c.id] === true);
      }
      var note = c.essential ? " (" + t.always_on + ")" : blockedByGpc(c) ? " (" + t.gpc_off + ")" : "";
      var purposes = (c.purposes || []).map(function (p) { return p.name; }).join(", ");
      var desc = el("div", { id: id + "-desc", "class": "pledge-description" }, [
        el("p", { text: c.description }),
        purposes ? el("p", { text: (t.purposes || "Purposes:") + " " + purposes + "." }) : null
      ]);
      /* Each cookie with who sets it, how long it lasts and what it does. */
      if ((c.trackers || []).length) {
        desc.appendChild(el("p", { "class": "pledge-used", text: t.used }));
        desc.appendChild(el("ul", { "class": "pledge-trackers" }, c.trackers.map(function (k) {
          var facts = [k.kind];
          if (k.provider) facts.push((t.provider || "set by") + " " + k.provider);
          facts.push((t.lifetime || "lifetime:") + " " + lifetime(k.duration));
          var item = el("li", {}, [el("strong", { text: k.name })]);
          item.appendChild(document.createTextNode(" (" + facts.join("; ") + ")"));
          if (k.description) item.appendChild(document.createTextNode(": " + k.description));
          return item;
        })));
      }
      list.appendChild(el("div", { "class": "pledge-category" }, [
        box,
        el("label", { "for": id, text: c.label + note }),
        desc
      ]));
    });

    var choose = el("div", { id: "pledge-choose", "class": "pledge-choose" }, [list]);
    choose.hidden = true;
    var saveButton = button(t.save, function () {
      decide(function (c) {
        var box = document.getElementById("pledge-cat-" + c.id);
        return !!(box && box.checked);
      });
    }, { "data-pledge-action": "save" });
    saveButton.hidden = true;

    var toggle = button(t.choose, function () {
      var opening = choose.hidden;
      choose.hidden = !opening;
      saveButton.hidden = !opening;
      toggle.setAttribute("aria-expanded", String(opening));
      if (opening) {
        var first = choose.querySelector("input:not([disabled])");
        (first || saveButton).focus();
      }
    }, { "aria-expanded": "false", "aria-controls": "pledge-choose", "data-pledge-action": "choose" });

    /* Accepting and refusing are the same kind of button, side by side. */
    var actions = el("div", { "class": "pledge-actions" }, [
      button(t.accept_all, function () { decide(function () { return true; }); },
        { "data-pledge-action": "accept" }),
      button(t.reject_all, function () { decide(function () { return false; }); },
        { "data-pledge-action": "reject" }),
      toggle,
      saveButton
    ]);

    var dialog = el("div", {
      id: "pledge-banner",
      "class": "pledge-banner",
      role: "dialog",
      "aria-modal": "false",
      "aria-labelledby": "pledge-title",
      "aria-describedby": "pledge-intro",
      tabindex: "-1"
    }, [title, intro, choose, actions]);
    dialog.addEventListener("keydown", function (e) {
      if (e.key !== "Escape") return;
      if (!choose.hidden) {
        toggle.click();
        toggle.focus();
      } else if (choice) {
        close();
      }
    });
    return dialog;
  }

  function open(from) {
    if (!config) return;
    opener = from && from.focus ? from : document.activeElement;
    if (root) root.remove();
    root = build();
    document.body.appendChild(root);
    root.hidden = false;
    /* The dialog is fixed at the bottom of the window; focusing it must not scroll the page. */
    root.focus({ preventScroll: true });
  }

  function reopenLinks() {
    var links = document.querySelectorAll("[data-pledge-open]");
    Array.prototype.forEach.call(links, function (link) {
      link.addEventListener("click", function (e) {
        e.preventDefault();
        open(link);
      });
    });
    if (links.length === 0) {
      var b = el("button", { type: "button", "class": "pledge-reopen", "data-pledge-open": "" });
      b.textContent = config.texts.settings;
      b.addEventListener("click", function () { open(b); });
      document.body.appendChild(b);
    }
  }

  /* Loads the style sheet; calls `ready` once it has loaded (or failed, or after two
   * seconds), so that the banner is shown and focused only once it is laid out as it will be:
   * unstyled, it sits at the end of the page, and taking the focus there scrolled to it. */
  function stylesheet(ready) {
    var done = false;
    function once() {
      if (done) return;
      done = true;
      ready();
    }
    var link = el("link", { rel: "stylesheet", href: base + "/banner.css" });
    link.addEventListener("load", once);
    link.addEventListener("error", once);
    setTimeout(once, 2000);
    document.head.appendChild(link);
  }

  function start(loaded) {
    config = loaded;
    /* The server saw a Sec-GPC header the page may not see. */
    if (loaded.gpc === true) gpc = true;
    var stored = load(STORE_CHOICE);
    if (config.categories.filter(optional).length === 0) {
      /* Nothing needs consent: no banner, and essential scripts run. */
      activate();
      return;
    }
    reopenLinks();
    if (stale(stored)) {
      choice = null;
      stylesheet(function () { open(null); });
      return;
    }
    stylesheet(function () { /* shown when reopened */ });
    choice = stored;
    activate();
    if (stored.pending) send(stored).catch(function () { /* next page */ });
  }

  window.Pledge = {
    open: function () { open(document.activeElement); },
    choice: current,
    /* The visitor's name in the ledger, for the site to link to an account at sign-in. */
    visitor: function () {
      var id = load(STORE_SUBJECT);
      return typeof id === "string" ? "visitor:" + id : null;
    },
    allowed: function (id) { return !!config && allowed(id); },
    onChange: function (f) { listeners.push(f); }
  };

  function boot() {
    fetch(base + "/banner/config.json", { mode: "cors", credentials: "omit" })
      .then(function (r) {
        if (!r.ok) throw new Error("no banner configuration: " + r.status);
        return r.json();
      })
      .then(start)
      .catch(function (e) {
        /* Without a configuration nothing optional runs: the safe side. */
        if (window.console) console.warn("Pledge banner:", e);
      });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
