// Search on the static site, with no server and from file:// too: the index is script files
// (search/meta.js, s<n>.js, d<n>.js, t2s.js) loaded with <script> tags; see publish/sitesearch.py.
// A query is cut as the archive's search cuts text: traditional folded to simplified, one token per
// character or Latin word, one per neighbouring pair; every token of every term must be present.
"use strict";
(function () {
  var status = document.getElementById("status");
  if (!status) return;
  var base = status.getAttribute("data-index");
  var results = document.getElementById("results");
  var pager = document.getElementById("pager");
  var loaded = {};
  var data = { meta: null, t2s: {}, shards: {}, docs: {} };
  var PAGE = 20;

  window.naSearch = {
    meta: function (meta) { data.meta = meta; },
    t2s: function (table) { data.t2s = table; },
    shard: function (n, postings) { data.shards[n] = postings; },
    docs: function (n, docs) { data.docs[n] = docs; }
  };

  function load(name) {
    if (!loaded[name]) {
      loaded[name] = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = base + name;
        script.onload = resolve;
        script.onerror = function () { reject(new Error(name)); };
        document.head.appendChild(script);
      });
    }
    return loaded[name];
  }

  function fnv(text) {
    var h = 0x811c9dc5;
    for (var i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h >>> 0;
  }

  var UNIT = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[\ud840-\ud8bf][\udc00-\udfff]|[0-9a-z\u00c0-\u024f]+/g;

  function runs(text) {
    var folded = "";
    for (var character of text) folded += data.t2s[character] || character;
    folded = folded.toLowerCase();
    var out = [], current = [], position = 0, match;
    UNIT.lastIndex = 0;
    while ((match = UNIT.exec(folded)) !== null) {
      var between = folded.slice(position, match.index);
      if (current.length && between.length && between.trim().length) { out.push(current); current = []; }
      current.push(match[0]);
      position = match.index + match[0].length;
    }
    if (current.length) out.push(current);
    return out;
  }

  function tokens(query) {
    var terms = query.match(/"[^"]+"|\S+/g) || [], found = [];
    terms.forEach(function (term) {
      runs(term.replace(/"/g, "")).forEach(function (run) {
        if (run.length === 1) found.push(run[0]);
        for (var i = 0; i + 1 < run.length; i++) found.push(run[i] + "_" + run[i + 1]);
      });
    });
    return found;
  }

  function postings(token) {
    var deltas = (data.shards[fnv(token) % data.meta.shards] || {})[token] || [], numbers = [], total = 0;
    for (var i = 0; i < deltas.length; i++) { total += deltas[i]; numbers.push(total); }
    return numbers;
  }

  function intersect(a, b) {
    var out = [], i = 0, j = 0;
    while (i < a.length && j < b.length) {
      if (a[i] === b[j]) { out.push(a[i]); i++; j++; } else if (a[i] < b[j]) i++; else j++;
    }
    return out;
  }

  function dayMs(value, end) {
    if (!value) return null;
    var ms = Date.parse(value + "T00:00:00+08:00");
    return isNaN(ms) ? null : ms + (end ? 86400000 - 1 : 0);
  }

  function beijing(ms) {
    return new Date(ms + 8 * 3600000).toISOString().slice(0, 16).replace("T", " ");
  }

  function show(message) { status.textContent = message; }

  function render(found, page, params) {
    results.textContent = "";
    found.slice((page - 1) * PAGE, page * PAGE).forEach(function (doc) {
      var li = document.createElement("li"), time = document.createElement("time"), outlet = document.createElement("span");
      var link = document.createElement("a");
      time.textContent = beijing(doc[3]);
      outlet.className = "outlet";
      outlet.textContent = data.meta.outlets[doc[2]] || doc[2];
      link.href = base + "../" + doc[0];
      link.textContent = doc[1];
      li.append(time, " ", outlet, " ", link);
      results.appendChild(li);
    });
    pager.textContent = "";
    [[page - 1, "← 上一页 Previous", page > 1], [page + 1, "下一页 Next →", page * PAGE < found.length]].forEach(function (item) {
      if (!item[2]) return;
      params.set("page", item[0]);
      var a = document.createElement("a");
      a.href = "?" + params.toString();
      a.textContent = item[1];
      pager.appendChild(a);
    });
  }

  function run() {
    var params = new URLSearchParams(location.search);
    var query = (params.get("q") || "").trim();
    document.querySelectorAll("form input, form select").forEach(function (field) {
      if (field.name && params.get(field.name) !== null) field.value = params.get(field.name);
    });
    if (!query) { show("输入搜索词。Type a word to search titles and leads."); return; }
    show("搜索中… Searching…");
    Promise.all([load("meta.js"), load("t2s.js")]).then(function () {
      var wanted = tokens(query);
      if (!wanted.length) throw new Error("nothing to search for");
      var shards = wanted.map(function (t) { return fnv(t) % data.meta.shards; });
      return Promise.all(shards.map(function (n) { return load("s" + n + ".js"); })).then(function () {
        var numbers = null;
        wanted.forEach(function (token) { numbers = numbers === null ? postings(token) : intersect(numbers, postings(token)); });
        var files = {};
        numbers.forEach(function (n) { files[Math.floor(n / data.meta.docsPerFile)] = true; });
        return Promise.all(Object.keys(files).map(function (f) { return load("d" + f + ".js"); })).then(function () { return numbers; });
      });
    }).then(function (numbers) {
      var source = params.get("source") || "", since = dayMs(params.get("since"), false), until = dayMs(params.get("until"), true);
      var found = [];
      numbers.forEach(function (n) {
        var doc = (data.docs[Math.floor(n / data.meta.docsPerFile)] || [])[n % data.meta.docsPerFile];
        if (!doc || (source && doc[2] !== source) || (since !== null && doc[3] < since) || (until !== null && doc[3] > until)) return;
        found.push(doc);
      });
      found.sort(function (a, b) { return b[3] - a[3]; });
      var page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
      show(found.length ? "找到 " + found.length + " 篇（标题和导语），最新在前。" + found.length + " found in titles and leads, newest first." : "没有找到。Nothing found.");
      render(found, page, params);
    }).catch(function (error) {
      show("搜索出错：" + error.message + "。Search failed.");
    });
  }

  run();
})();
