// Passkeys in the browser (docs/passkeys.md): the login page's "Sign in with a passkey", the passkey
// button of the two-step page, and the account page's list. No third-party code; loaded as a file,
// so the pages' CSP ('self' scripts only) holds. The server sends WebAuthn options as JSON with
// base64url strings for binary fields; they become ArrayBuffers here, and the browser's answer goes
// back the same way.
(() => {
  "use strict";

  const supported = Boolean(window.PublicKeyCredential && navigator.credentials);

  function toBytes(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
  }

  function toText(buffer) {
    let binary = "";
    for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  const withIds = (list) => (list || []).map((c) => ({ ...c, id: toBytes(c.id) }));

  function creationOptions(json) {
    return {
      ...json,
      challenge: toBytes(json.challenge),
      user: { ...json.user, id: toBytes(json.user.id) },
      excludeCredentials: withIds(json.excludeCredentials),
    };
  }

  function requestOptions(json) {
    return { ...json, challenge: toBytes(json.challenge), allowCredentials: withIds(json.allowCredentials) };
  }

  function credentialJSON(credential) {
    const r = credential.response;
    const response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      if (r.userHandle) response.userHandle = toText(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response,
    };
  }

  async function post(url, body, csrf) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (csrf) headers["X-CSRF-Token"] = csrf;
    const reply = await fetch(url, {
      method: "POST", credentials: "same-origin", headers, body: JSON.stringify(body || {}),
    });
    const data = reply.status === 204 ? {} : await reply.json().catch(() => ({}));
    if (!reply.ok) {
      const error = new Error(data.message || "Something went wrong. Try again.");
      error.code = data.error;
      throw error;
    }
    return data;
  }

  function explain(error) {
    // The browser's own errors: the user closed the dialog, or no passkey on this device fits.
    if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
      return "The passkey request was cancelled or timed out.";
    }
    if (error && error.name === "InvalidStateError") return "This device already holds a passkey for your account.";
    return (error && error.message) || "Something went wrong. Try again.";
  }

  function show(element, text) {
    element.textContent = text;
    element.hidden = !text;
  }

  // --- login page: passwordless --------------------------------------------------------------------
  const login = document.getElementById("passkey-login");
  if (login && supported) {
    const button = document.getElementById("passkey-login-button");
    const problem = document.getElementById("passkey-login-error");
    login.hidden = false;
    button.addEventListener("click", async () => {
      show(problem, "");
      button.disabled = true;
      try {
        const { publicKey } = await post("/auth/passkey/login/options");
        const credential = await navigator.credentials.get({ publicKey: requestOptions(publicKey) });
        const done = await post("/auth/passkey/login/verify", {
          credential: credentialJSON(credential), next: button.dataset.next,
        });
        window.location.assign(done.next || "/");
      } catch (error) {
        show(problem, explain(error));
        button.disabled = false;
      }
    });
  }

  // --- two-step page: the passkey as second factor -------------------------------------------------
  const mfa = document.getElementById("passkey-mfa");
  if (mfa && supported) {
    const button = document.getElementById("passkey-mfa-button");
    const problem = document.getElementById("passkey-mfa-error");
    const token = mfa.dataset.mfaToken;
    const options = () => post("/auth/login/mfa/passkey/options", { mfa_token: token });
    let ready = options().then(({ publicKey, totp }) => {
      mfa.hidden = !publicKey; // only for accounts that have a passkey
      const codeForm = document.getElementById("code")?.closest("form");
      if (publicKey && !totp && codeForm) {
        codeForm.hidden = true; // passkeys only: no authenticator app to take a code from
        button.focus();
      }
      return publicKey;
    }).catch(() => null);
    button.addEventListener("click", async () => {
      show(problem, "");
      button.disabled = true;
      try {
        const publicKey = (await ready) || (await options()).publicKey;
        ready = null; // a challenge works once: the next try asks for a new one
        const credential = await navigator.credentials.get({ publicKey: requestOptions(publicKey) });
        const done = await post("/auth/login/mfa/passkey", {
          mfa_token: token, credential: credentialJSON(credential), next: mfa.dataset.next,
        });
        window.location.assign(done.next || "/");
      } catch (error) {
        show(problem, explain(error));
        button.disabled = false;
      }
    });
  }

  // --- account page: list, add, rename, remove -----------------------------------------------------
  const account = document.getElementById("passkeys-account");
  if (account) {
    const csrf = account.dataset.csrf;
    const status = document.getElementById("passkeys-status");
    const problem = document.getElementById("passkeys-error");
    const form = document.getElementById("add-passkey");
    const utc = (t) => new Date(t * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";

    const failed = (error) => {
      if (error.code === "reauth_required") {
        show(problem, error.message + " Log in again, then come back to this page.");
        const link = document.createElement("a");
        link.href = "/login?next=/account/passkeys&reauth=1";
        link.textContent = " Log in again";
        problem.append(link);
      } else {
        show(problem, explain(error));
      }
    };

    async function refresh() {
      const reply = await fetch("/auth/passkeys", { credentials: "same-origin" });
      const { passkeys } = await reply.json();
      const body = document.querySelector("#passkeys-table tbody");
      body.replaceChildren(...passkeys.map((p) => {
        const row = document.createElement("tr");
        row.dataset.passkeyId = p.id;
        const kind = (p.passwordless ? "passkey" : "security key") + (p.synced ? " (synced)" : "");
        for (const [text, cls] of [[p.name, "passkey-name"], [utc(p.created_at)],
          [p.last_used_at ? utc(p.last_used_at) : "never"], [kind]]) {
          const cell = document.createElement("td");
          cell.textContent = text;
          if (cls) cell.className = cls;
          row.append(cell);
        }
        const actions = document.createElement("td");
        for (const [action, label] of [["rename", "Rename"], ["remove", "Remove"]]) {
          const b = document.createElement("button");
          Object.assign(b, { type: "button", className: "link", textContent: label });
          b.dataset.action = action;
          actions.append(b, " ");
        }
        row.append(actions);
        return row;
      }));
      if (!passkeys.length) {
        const row = document.createElement("tr");
        const cell = document.createElement("td");
        Object.assign(cell, { colSpan: 5, textContent: "No passkeys yet." });
        row.append(cell);
        body.append(row);
      }
    }

    if (!supported) {
      form.hidden = true;
      document.getElementById("passkeys-unsupported").hidden = false;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      show(problem, "");
      show(status, "");
      const submit = form.querySelector("button");
      submit.disabled = true;
      try {
        const { publicKey } = await post("/auth/passkeys/register/options", { passwordless: true }, csrf);
        const credential = await navigator.credentials.create({ publicKey: creationOptions(publicKey) });
        const done = await post("/auth/passkeys/register", {
          credential: credentialJSON(credential), name: form.elements.name.value,
        }, csrf);
        show(status, `Passkey “${done.passkey.name}” added.`);
        if (done.recovery_codes) {
          const list = document.getElementById("recovery-list");
          list.replaceChildren(...done.recovery_codes.map((code) => {
            const item = document.createElement("li");
            const text = document.createElement("code");
            text.textContent = code;
            item.append(text);
            return item;
          }));
          document.getElementById("recovery-codes").hidden = false;
        }
        form.reset();
        await refresh();
      } catch (error) {
        failed(error);
      } finally {
        submit.disabled = false;
      }
    });

    document.getElementById("passkeys-table").addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      const row = button.closest("tr");
      const id = encodeURIComponent(row.dataset.passkeyId);
      const name = row.querySelector(".passkey-name").textContent;
      show(problem, "");
      show(status, "");
      try {
        if (button.dataset.action === "rename") {
          const next = window.prompt("New name for this passkey", name);
          if (next === null) return;
          await post(`/auth/passkeys/${id}/rename`, { name: next }, csrf);
          show(status, "Passkey renamed.");
        } else {
          if (!window.confirm(`Remove the passkey “${name}”? It will no longer sign you in.`)) return;
          const done = await post(`/auth/passkeys/${id}/remove`, {}, csrf);
          show(status, done.mfa_turned_off ? "Passkey removed. Two-step login is now off." : "Passkey removed.");
        }
        await refresh();
      } catch (error) {
        failed(error);
      }
    });
  }
})();
