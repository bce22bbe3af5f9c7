// powerlists report: sortable, filterable, paged tables over JSON embedded in the page.
// Vanilla JS, no library and no network. Data is untrusted (it comes from hand-edited lists), so it is
// only ever put into the DOM with textContent and createElement; nothing here builds HTML from strings.
(function () {
  "use strict";
  var PAGE_SIZE = 100;
  var collator = new Intl.Collator("zh-Hans-CN", { numeric: true });

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function formatCell(value, kind) {
    if (value === null || value === undefined || value === "") return "";
    if (kind === "num") return Number(value).toLocaleString("en-US");
    if (kind === "pct") return (100 * Number(value)).toFixed(1) + "%";
    if (kind === "score") return Number(value).toFixed(3);
    return String(value);
  }

  function compare(a, b, kind) {
    var aNull = a === null || a === undefined || a === "";
    var bNull = b === null || b === undefined || b === "";
    if (aNull || bNull) return aNull === bNull ? 0 : aNull ? 1 : -1; // empty cells last
    if (kind === "num" || kind === "pct" || kind === "score") return Number(a) - Number(b);
    return collator.compare(String(a), String(b));
  }

  function mount(host) {
    var source = document.getElementById(host.getAttribute("data-source"));
    var spec = JSON.parse(source.textContent);
    var columns = spec.columns;
    var rows = spec.rows.map(function (cells, index) {
      var haystack = cells
        .map(function (c) {
          return c === null || c === undefined ? "" : String(c);
        })
        .join("\u0001")
        .toLowerCase();
      return { cells: cells, index: index, haystack: haystack };
    });
    var state = { query: "", facets: {}, sortColumn: -1, sortDir: 1, page: 0 };
    var view = rows;

    var controls = el("div", "dt-controls");
    var search = el("input");
    search.type = "search";
    search.placeholder = "filter rows…";
    search.setAttribute("aria-label", "filter " + spec.id);
    search.setAttribute("data-testid", spec.id + "-filter");
    controls.appendChild(search);
    columns.forEach(function (column, ci) {
      if (!column.facet) return;
      var values = {};
      rows.forEach(function (r) {
        var v = r.cells[ci];
        if (v !== null && v !== undefined && v !== "") values[String(v)] = true;
      });
      var names = Object.keys(values).sort(function (a, b) {
        return collator.compare(a, b);
      });
      if (names.length < 2) return;
      var label = el("label", null, (column.group ? column.group + " " : "") + column.label + " ");
      var select = el("select");
      select.setAttribute("data-testid", spec.id + "-facet-" + column.key);
      select.appendChild(el("option", null, "all"));
      select.options[0].value = "";
      names.forEach(function (name) {
        var option = el("option", null, name);
        option.value = name;
        select.appendChild(option);
      });
      select.addEventListener("change", function () {
        state.facets[ci] = select.value;
        state.page = 0;
        apply();
      });
      label.appendChild(select);
      controls.appendChild(label);
    });
    var status = el("span", "note");
    status.setAttribute("data-testid", spec.id + "-status");
    controls.appendChild(status);
    host.appendChild(controls);
    var review = spec.review ? reviewControls(host, spec) : null;

    var scroll = el("div", "scroll");
    var table = el("table");
    table.setAttribute("data-testid", spec.id + "-table");
    var thead = el("thead");
    var hasGroups = columns.some(function (c) {
      return c.group;
    });
    if (hasGroups) {
      var groupRow = el("tr");
      var i = 0;
      while (i < columns.length) {
        var span = 1;
        while (i + span < columns.length && columns[i + span].group === columns[i].group) span++;
        var th = el("th", columns[i].group ? "group" : null, columns[i].group || "");
        th.colSpan = span;
        groupRow.appendChild(th);
        i += span;
      }
      thead.appendChild(groupRow);
    }
    if (review && hasGroups) groupRow.appendChild(el("th", "group", "your decision"));
    var headRow = el("tr");
    var headers = columns.map(function (column, ci) {
      var numeric = column.kind === "num" || column.kind === "pct" || column.kind === "score";
      var th = el("th", "sortable" + (numeric ? " num" : ""), column.label);
      th.setAttribute("aria-sort", "none");
      th.tabIndex = 0;
      function sortHere() {
        if (state.sortColumn === ci) state.sortDir = -state.sortDir;
        else {
          state.sortColumn = ci;
          state.sortDir = numeric ? -1 : 1; // numbers: largest first is what reviewers want
        }
        state.page = 0;
        apply();
      }
      th.addEventListener("click", sortHere);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortHere();
        }
      });
      headRow.appendChild(th);
      return th;
    });
    if (review) headRow.appendChild(el("th", null, "decide · note"));
    thead.appendChild(headRow);
    table.appendChild(thead);
    var tbody = el("tbody");
    table.appendChild(tbody);
    scroll.appendChild(table);
    host.appendChild(scroll);

    var pager = el("div", "dt-pager");
    var prev = el("button", null, "‹ previous");
    var pageLabel = el("span", "note");
    var next = el("button", null, "next ›");
    prev.type = next.type = "button";
    prev.addEventListener("click", function () {
      state.page = Math.max(0, state.page - 1);
      render();
    });
    next.addEventListener("click", function () {
      state.page += 1;
      render();
    });
    pager.appendChild(prev);
    pager.appendChild(pageLabel);
    pager.appendChild(next);
    host.appendChild(pager);

    search.addEventListener("input", function () {
      state.query = search.value.trim().toLowerCase();
      state.page = 0;
      apply();
    });

    function apply() {
      view = rows.filter(function (r) {
        if (state.query && r.haystack.indexOf(state.query) < 0) return false;
        for (var ci in state.facets) {
          var want = state.facets[ci];
          if (want && String(r.cells[ci]) !== want) return false;
        }
        return true;
      });
      if (state.sortColumn >= 0) {
        var ci = state.sortColumn;
        var kind = columns[ci].kind;
        view.sort(function (a, b) {
          return state.sortDir * compare(a.cells[ci], b.cells[ci], kind) || a.index - b.index;
        });
      }
      headers.forEach(function (th, i) {
        th.setAttribute(
          "aria-sort",
          i === state.sortColumn ? (state.sortDir > 0 ? "ascending" : "descending") : "none",
        );
      });
      render();
    }

    function render() {
      var pages = Math.max(1, Math.ceil(view.length / PAGE_SIZE));
      state.page = Math.min(state.page, pages - 1);
      var start = state.page * PAGE_SIZE;
      var fragment = document.createDocumentFragment();
      view.slice(start, start + PAGE_SIZE).forEach(function (r) {
        var tr = el("tr");
        columns.forEach(function (column, ci) {
          var numeric = column.kind === "num" || column.kind === "pct" || column.kind === "score";
          var cls = numeric ? "num" : column.kind === "pre" ? "pre" : column.kind === "id" ? "id" : null;
          if (column.key === "severity") cls = "sev-" + String(r.cells[ci]);
          tr.appendChild(el("td", cls, formatCell(r.cells[ci], column.kind)));
        });
        if (review) tr.appendChild(review.cell(r.cells));
        fragment.appendChild(tr);
      });
      while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
      tbody.appendChild(fragment);
      if (!rows.length) {
        var empty = el("tr");
        var td = el("td", "note", "no rows");
        td.colSpan = columns.length;
        empty.appendChild(td);
        tbody.appendChild(empty);
      }
      status.textContent =
        view.length.toLocaleString("en-US") +
        " of " +
        rows.length.toLocaleString("en-US") +
        " embedded rows match" +
        (spec.total > rows.length ? " (the run has " + spec.total.toLocaleString("en-US") + ")" : "");
      pageLabel.textContent = "page " + (state.page + 1) + " of " + pages;
      prev.disabled = state.page === 0;
      next.disabled = state.page >= pages - 1;
      host.setAttribute("data-rendered-rows", String(Math.min(PAGE_SIZE, view.length - start)));
    }

    apply();
  }

  // A reviewer ticks decisions on findings and downloads them as the reviews file the next run reads:
  // the decisions the run already applied (link decisions included), with the new ticks replacing those
  // of the same key. Nothing leaves the page but the downloaded file; the ticks live in memory only.
  function reviewControls(host, spec) {
    var keyAt = spec.columns.findIndex(function (c) {
      return c.key === "finding_key";
    });
    var ticks = {}; // finding key -> {decision, note}
    var bar = el("div", "dt-controls");
    var who = el("input");
    who.placeholder = "reviewer name";
    who.setAttribute("aria-label", "reviewer");
    who.setAttribute("data-testid", spec.id + "-reviewer");
    var download = el("button", null, "download reviews.csv");
    download.type = "button";
    download.setAttribute("data-testid", spec.id + "-download");
    var note = el("span", "note");
    note.setAttribute("data-testid", spec.id + "-ticked");
    bar.appendChild(el("label", null, "reviewer "));
    bar.lastChild.appendChild(who);
    bar.appendChild(download);
    bar.appendChild(note);
    host.appendChild(bar);

    function count() {
      var n = Object.keys(ticks).length;
      note.textContent = n + " new decision" + (n === 1 ? "" : "s") + " · " + spec.review.decisions.length + " from the reviews file";
    }

    function today() {
      var d = new Date();
      var pad = function (n) {
        return (n < 10 ? "0" : "") + n;
      };
      return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
    }

    function csvField(value) {
      var text = value === null || value === undefined ? "" : String(value);
      return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
    }

    download.addEventListener("click", function () {
      var keys = Object.keys(ticks);
      if (keys.length && !who.value.trim()) {
        note.textContent = "enter the reviewer's name first: every decision says who made it";
        who.focus();
        return;
      }
      var rows = {};
      var order = [];
      spec.review.decisions.forEach(function (d) {
        if (!(d.key in rows)) order.push(d.key);
        rows[d.key] = d;
      });
      keys.forEach(function (key) {
        if (!(key in rows)) order.push(key);
        rows[key] = { key: key, decision: ticks[key].decision, note: ticks[key].note, reviewer: who.value.trim(), decided_on: today() };
      });
      var lines = [spec.review.columns.join(",")];
      order.forEach(function (key) {
        lines.push(
          spec.review.columns
            .map(function (c) {
              return csvField(rows[key][c]);
            })
            .join(","),
        );
      });
      var blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
      var link = el("a");
      link.href = URL.createObjectURL(blob);
      link.download = "reviews.csv";
      document.body.appendChild(link);
      link.click();
      document.body.removeChild(link);
      host.setAttribute("data-downloaded-rows", String(order.length));
    });
    count();

    return {
      cell: function (cells) {
        var key = cells[keyAt];
        var td = el("td");
        if (!key) return td;
        var select = el("select");
        select.setAttribute("data-key", key);
        select.setAttribute("aria-label", "decision on " + key);
        [""].concat(spec.review.choices).forEach(function (choice) {
          var option = el("option", null, choice || "—");
          option.value = choice;
          select.appendChild(option);
        });
        var text = el("input");
        text.placeholder = "note";
        text.setAttribute("data-note-key", key);
        text.setAttribute("aria-label", "note on " + key);
        if (ticks[key]) {
          select.value = ticks[key].decision;
          text.value = ticks[key].note;
        }
        function keep() {
          if (select.value) ticks[key] = { decision: select.value, note: text.value.trim() };
          else delete ticks[key];
          count();
        }
        select.addEventListener("change", keep);
        text.addEventListener("input", keep);
        td.appendChild(select);
        td.appendChild(text);
        return td;
      },
    };
  }

  var hosts = document.querySelectorAll("[data-table]");
  for (var i = 0; i < hosts.length; i++) mount(hosts[i]);
  // Tests read this: the script ran to the end without throwing.
  document.documentElement.setAttribute("data-report-ready", "1");
})();
