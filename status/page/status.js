// pxeforge's status page: the machines of the boot timeline (api/machines) and the build
// being served (api/build), asked again every two seconds. Every value a client chose
// (host names, architectures, file names) goes into the page as text, never as markup.
"use strict";

const STAGES = ["dhcp", "loader", "kernel", "initramfs", "image", "booted"];
const REFRESH_MS = 2000;
// The reset token, when the page was opened with the link `pxeforge status --reset-link`
// prints (#token=...): the fragment never leaves the browser but in a reset's body.
const TOKEN = new URLSearchParams(location.hash.slice(1)).get("token");

function text(id, value) {
        document.getElementById(id).textContent = value ?? "–";
}

function cell(row, value, cls) {
        const td = document.createElement("td");
        td.textContent = value ?? "–";
        td.className = cls;
        row.appendChild(td);
}

function mib(bytes) {
        return (bytes / 1048576).toFixed(1) + " MiB";
}

function ago(ms, now) {
        const s = Math.max(0, Math.round((now - ms) / 1000));
        if (s < 120) return s + " s ago";
        if (s < 7200) return Math.floor(s / 60) + " min ago";
        return Math.floor(s / 3600) + " h ago";
}

function transfer(t) {
        if (!t) return null;
        let s = t.file + " (" + t.protocol + ") ";
        s += t.size ? Math.floor((100 * t.bytes) / t.size) + "% of " + mib(t.size) : mib(t.bytes);
        if (t.result === "running" && t.bytesPerSecond) s += ", " + mib(t.bytesPerSecond) + "/s";
        else if (t.result !== "running") s += ", " + t.result;
        return s;
}

// Each stage reached, in seconds after the machine was first seen.
function timings(m) {
        return STAGES.filter((s) => m.stages[s] !== undefined)
                .map((s) => s + " +" + ((m.stages[s] - m.firstSeenMs) / 1000).toFixed(1) + " s")
                .join(", ");
}

// A boot-once machine that booted boots its disk: with the token, a button sends it back
// to its build (the same as `pxeforge machine reset MAC`).
function resetButton(td, m) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = "reset";
        b.title = "boot " + m.mac + " from the network again";
        b.addEventListener("click", async () => {
                b.disabled = true;
                const r = await fetch("api/reset", {
                        method: "POST",
                        body: "mac=" + m.mac + "\ntoken=" + TOKEN + "\n",
                });
                text("updated", m.mac + ": " + (await r.text()).trim());
        });
        td.append(" ", b);
}

function row(m, now) {
        const tr = document.createElement("tr");
        tr.className = "state-" + m.state;
        tr.dataset.mac = m.mac ?? "";
        cell(tr, m.mac, "mac");
        cell(tr, m.ip, "ip");
        cell(tr, m.hostname, "host");
        cell(tr, m.arch, "arch");
        cell(tr, m.boots, "boots");
        if (TOKEN && m.mac && m.bootedOnce) resetButton(tr.lastChild, m);
        cell(tr, m.stage, "stage");
        cell(tr, m.state, "state");
        cell(tr, transfer(m.transfer), "transfer");
        cell(tr, timings(m), "timings");
        cell(tr, m.bootMs == null ? null : (m.bootMs / 1000).toFixed(1) + " s", "boot");
        cell(tr, ago(m.lastSeenMs, now), "seen");
        // a booted (or disk-booting) machine's last refusal was a loader's probe
        // (terminal.lst, grub.cfg-01-MAC, shim_certificate_0.efi)
        cell(tr, m.state === "booted" || m.state === "local" ? null : m.failure, "failure");
        return tr;
}

function showMachines(doc) {
        const now = doc.nowMs ?? Date.now();
        document.getElementById("machines").replaceChildren(...doc.machines.map((m) => row(m, now)));
        const n = doc.machines.length;
        text("count", n === 0 ? "no machines yet" : n + (n === 1 ? " machine" : " machines"));
}

function showBuild(b) {
        const m = b.manifest ?? {};
        text("build-name", b.name);
        text("build-folder", b.folder);
        text("build-time", b.builtMs ? new Date(b.builtMs).toLocaleString() : null);
        text("build-kernel", m["kernel-version"]);
        text("build-initramfs", m["initramfs-type"]);
        text("build-url", m["bootstrap-url"] ?? "in the initramfs");
        text("build-memory", m["minimum-memory-mib"] ? m["minimum-memory-mib"] + " MiB" : null);
}

async function getJson(path) {
        const r = await fetch(path, { cache: "no-store" });
        if (!r.ok) throw new Error(path + ": " + r.status);
        return r.json();
}

async function refresh() {
        try {
                const [machines, build] = await Promise.all([getJson("api/machines"), getJson("api/build")]);
                showMachines(machines);
                showBuild(build);
                text("updated", "updated " + new Date().toLocaleTimeString());
        } catch (e) {
                text("updated", "cannot reach the appliance (" + e.message + "); trying again");
        }
        setTimeout(refresh, REFRESH_MS);
}

refresh();
