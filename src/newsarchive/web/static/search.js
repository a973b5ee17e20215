// Full-text search on the static site, with no server and from file:// too. The index is script files loaded
// with <script> tags (see publish/sitesearch.py): search/meta.js, t2s.js, and per year s<n>.js (posting lists of
// the tokens whose hash falls in shard n), w.js (each article's time and outlet) and d<n>.js (titles, pages).
// A query is cut as the archive's search cuts text (index/tokens.py): traditional folded to simplified, one unit
// per character or Latin word, pairs of neighbouring units; every term must match. Hits are ranked title hits
// first, then by a BM25 score of the counts; snippets (and the check of a phrase against the text) come from the
// hit's own page, loaded in a hidden frame that posts its text back (fetch is refused from file://).
// On an article page opened in such a frame, this script only posts the article's text to the search page.
"use strict";
(function () {
  var BLOCKS = "p,li,h1,h2,h3,h4,h5,h6,blockquote,td,th,pre,figcaption,div";

  function textOf(root) {
    var out = [], walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT), node, last = null;
    while ((node = walker.nextNode())) {
      var block = node.parentElement.closest(BLOCKS);
      if (block !== last) { out.push("\n"); last = block; }
      out.push(node.data);
    }
    return out.join("");
  }

  var article = document.querySelector("article .body");
  if (article) {
    if (window.parent !== window) {
      var heading = document.querySelector("article h1");
      window.parent.postMessage({ naText: (heading ? heading.textContent : "") + "\n" + textOf(article) }, "*");
    }
    return;
  }
  var status = document.getElementById("status");
  if (!status) return;
  var base = status.getAttribute("data-index");
  var results = document.getElementById("results");
  var pager = document.getElementById("pager");
  var PAGE = 20, K1 = 1.2, FRAMES = 6;
  var loaded = {};
  var data = { meta: null, t2s: new Map(), shards: {}, when: {}, docs: {} };

  window.naSearch = {
    meta: function (meta) { data.meta = meta; },
    t2s: function (pairs) {  // "繁简繁简…": each traditional character followed by its simplified one
      var characters = Array.from(pairs);  // by code point: a few simplified characters lie beyond U+FFFF
      data.t2s = new Map();
      for (var i = 0; i + 1 < characters.length; i += 2) data.t2s.set(characters[i], characters[i + 1]);
    },
    shard: function (year, n, lists) { data.shards[year + "/s" + n] = lists; },
    when: function (year, encoded) { data.when[year] = { encoded: encoded }; },
    docs: function (year, n, docs) { data.docs[year + "/" + n] = docs; }
  };

  function load(name) {
    if (!loaded[name]) {
      loaded[name] = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = base + name;
        script.onload = resolve;
        script.onerror = function () { delete loaded[name]; script.remove(); reject(new Error(name)); };  // a later query tries again
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

  // Reading bits, most significant first, from base64 text, 32 at a time: a run of zeros or ones is counted with
  // Math.clz32, not bit by bit (decoding the lists is most of the ranking's time).
  function Bits(encoded) {
    var binary = atob(encoded + "===".slice((encoded.length + 3) % 4));
    this.bytes = new Uint8Array(binary.length + 5);  // zeros past the end: a window may look beyond it
    for (var i = 0; i < binary.length; i++) this.bytes[i] = binary.charCodeAt(i);
    this.at = 0;
  }
  Bits.prototype.peek = function () {  // the 32 bits from here
    var b = this.bytes, i = this.at >>> 3, shift = this.at & 7;
    var word = ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
    return shift ? ((word << shift) | (b[i + 4] >>> (8 - shift))) >>> 0 : word;
  };
  Bits.prototype.fixed = function (width) {  // up to 32 bits
    if (width === 0) return 0;
    var value = this.peek() >>> (32 - width);
    this.at += width;
    return value;
  };
  Bits.prototype.gamma = function () {
    var zeros = Math.clz32(this.peek());  // below 32: every value coded here is below 2^31
    this.at += zeros;
    return this.fixed(zeros + 1);
  };
  Bits.prototype.rice = function (k) {
    var quotient = 0, ones;
    while ((ones = Math.clz32(~this.peek())) === 32) { quotient += 32; this.at += 32; }
    this.at += ones + 1;
    return (quotient + ones) * Math.pow(2, k) + this.fixed(k);
  };

  // A posting list: article numbers within the year, and per article the token's count and whether the title holds it.
  function decode(encoded) {
    var bits = new Bits(encoded), count = bits.gamma(), k = bits.fixed(5);
    var numbers = new Int32Array(count), codes = new Uint8Array(count), previous = -1;
    for (var i = 0; i < count; i++) {
      previous += bits.rice(k) + 1;
      numbers[i] = previous;
      codes[i] = bits.gamma() - 1;
    }
    return { numbers: numbers, codes: codes };
  }

  // An article's minute (since 1970) and outlet, read where they lie in its year's table: only the candidates' are read.
  function when(year) {
    var table = data.when[year];
    if (!table.bits) {
      table.bits = new Bits(table.encoded);
      table.width = data.meta.minuteBits + Math.max(1, Math.ceil(Math.log2(data.meta.sources.length)));
      table.start = Date.UTC(+year, 0, 1) / 60000 - 8 * 60;
    }
    return table;
  }

  function minuteAndSource(table, number) {
    table.bits.at = number * table.width;
    var minute = table.start + table.bits.fixed(data.meta.minuteBits);
    return [minute, table.bits.fixed(table.width - data.meta.minuteBits)];
  }

  var UNIT = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[\ud840-\ud8bf][\udc00-\udfff]|[0-9a-z\u00c0-\u024f]+/g;

  function fold(text) {
    var folded = "";
    for (var character of text) folded += data.t2s.get(character) || character;
    return folded.toLowerCase();
  }

  function runs(text) {
    var folded = fold(text), out = [], current = [], position = 0, match;
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

  // The runs of a query: each needs its unit (one) or all its pairs (two or more units, a phrase from three).
  function queryRuns(query) {
    var terms = query.match(/"[^"]+"|\S+/g) || [], found = [];
    terms.forEach(function (term) {
      runs(term.replace(/"/g, "")).forEach(function (run) {
        var tokens = [];
        if (run.length === 1) tokens.push(run[0]);
        for (var i = 0; i + 1 < run.length; i++) tokens.push(run[i] + "_" + run[i + 1]);
        found.push({ units: run, tokens: tokens, phrase: run.length > 2 });
      });
    });
    return found;
  }

  function shardName(year, token) {
    return year + "/s" + (fnv(token) & (data.meta.years[year].shards - 1));
  }

  function postings(year, token) {
    var key = year + "\u0000" + token;
    if (!(key in data.decoded)) {
      var encoded = (data.shards[shardName(year, token)] || {})[token];
      data.decoded[key] = encoded ? decode(encoded) : { numbers: new Int32Array(0), codes: new Uint8Array(0) };
    }
    return data.decoded[key];
  }
  data.decoded = {};

  // Articles of one year holding every token of a run, ascending: their numbers, and per article the least count of
  // the tokens and whether the title holds them all (lists merged, as they are sorted).
  function matchRun(year, run) {
    var found = null;
    run.tokens.forEach(function (token) {
      var list = postings(year, token), size = list.numbers.length;
      var counts = new Uint8Array(size), titles = new Uint8Array(size);
      for (var n = 0; n < size; n++) { counts[n] = (list.codes[n] >> 1) + 1; titles[n] = list.codes[n] & 1; }
      var next = { numbers: list.numbers, counts: counts, titles: titles };
      if (found !== null) {
        var numbers = [], least = [], both = [], i = 0, j = 0;
        while (i < found.numbers.length && j < size) {
          if (found.numbers[i] < next.numbers[j]) i++;
          else if (found.numbers[i] > next.numbers[j]) j++;
          else {
            numbers.push(found.numbers[i]);
            least.push(Math.min(found.counts[i], counts[j]));
            both.push(found.titles[i] & titles[j]);
            i++;
            j++;
          }
        }
        next = { numbers: numbers, counts: least, titles: both };
      }
      found = next;
    });
    return found;
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

  function search(params) {
    var wanted = queryRuns(params.get("q") || "");
    if (!wanted.length) throw new Error("没有可搜索的字词 nothing to search for");
    var since = dayMs(params.get("since"), false), until = dayMs(params.get("until"), true);
    var years = Object.keys(data.meta.years).filter(function (year) {
      var first = Date.UTC(+year, 0, 1) - 8 * 3600000, last = Date.UTC(+year + 1, 0, 1) - 8 * 3600000 - 1;
      return (since === null || last >= since) && (until === null || first <= until);
    });
    // The times and outlets (w.js) only for an order or filter that needs them: relevance ties go to the article the
    // archive had last, as its number says (one file a year less to load: each costs its own round of loading).
    var timed = params.get("sort") === "date" || !!params.get("source") || since !== null || until !== null;
    var files = {};
    years.forEach(function (year) {
      if (timed) files[year + "/w.js"] = true;
      wanted.forEach(function (run) { run.tokens.forEach(function (token) { files[shardName(year, token) + ".js"] = true; }); });
    });
    return Promise.all(Object.keys(files).map(load)).then(function () {
      performance.mark("search-loaded");
      var hits = rank(wanted, years, params, since, until, timed);
      performance.mark("search-ranked");
      return hits;
    });
  }

  function rank(wanted, years, params, since, until, timed) {
    var total = 0, frequency = wanted.map(function () { return 0; }), matches = [];
    years.forEach(function (year) {
      total += data.meta.years[year].articles;
      var perRun = wanted.map(function (run, r) {
        var found = matchRun(year, run);
        frequency[r] += found.numbers.length;
        return found;
      });
      matches.push([year, perRun]);
    });
    var weights = frequency.map(function (df) { return Math.log(1 + (total - df + 0.5) / (df + 0.5)); });
    var source = params.get("source") || "", sourceIndex = source ? data.meta.sources.indexOf(source) : -1;
    var sinceMinute = since === null ? -Infinity : since / 60000, untilMinute = until === null ? Infinity : until / 60000;
    // Only the hits up to the page shown are kept in order (a few compared with each hit); the others are counted.
    var byDate = params.get("sort") === "date", keep = pageOf(params) * PAGE, best = [], count = 0;
    function before(a, b) {  // whether hit a goes before hit b; hits come in a fixed order, which settles ties
      if (byDate) return a.newer > b.newer;
      return a.titles > b.titles || (a.titles === b.titles && (a.score > b.score || (a.score === b.score && a.newer > b.newer)));
    }
    matches.forEach(function (item) {
      var year = item[0], perRun = item[1], table = timed ? when(year) : null, at = perRun.map(function () { return 0; });
      var first = perRun[0];
      articles: for (var i = 0; i < first.numbers.length; i++) {
        var number = first.numbers[i], score = 0, titles = 0;
        for (var r = 0; r < perRun.length; r++) {  // every run's list is ascending: step each along
          var found = perRun[r];
          while (at[r] < found.numbers.length && found.numbers[at[r]] < number) at[r]++;
          if (found.numbers[at[r]] !== number) continue articles;
          var times = found.counts[at[r]];
          score += weights[r] * times * (K1 + 1) / (times + K1);
          titles += found.titles[at[r]];
        }
        var newer = year * 1e7 + number;  // numbers are below 2^26
        if (timed) {
          var place = minuteAndSource(table, number);
          if ((source && place[1] !== sourceIndex) || place[0] < sinceMinute || place[0] > untilMinute) continue;
          newer = place[0];
        }
        count++;
        var hit = { year: year, number: number, newer: newer, titles: titles, score: score };
        if (best.length === keep && !before(hit, best[keep - 1])) continue;
        var low = 0, high = best.length;
        while (low < high) { var middle = (low + high) >> 1; if (before(hit, best[middle])) high = middle; else low = middle + 1; }
        best.splice(low, 0, hit);
        if (best.length > keep) best.pop();
      }
    });
    return { count: count, top: best };
  }

  function snippet(text, wanted) {
    var folded = fold(text), shown = folded.length === text.length ? text : folded, needles = [];
    wanted.forEach(function (run) { needles.push(run.units.join(/^[\u3400-\u9fff\uf900-\ufaff]/.test(run.units[0]) ? "" : " ")); });
    var first = folded.length;
    needles.forEach(function (needle) { var at = folded.indexOf(needle); if (at >= 0 && at < first) first = at; });
    if (first === folded.length) first = 0;
    var start = Math.max(0, first - 20), end = Math.min(folded.length, start + 70), fragment = document.createDocumentFragment();
    var piece = folded.slice(start, end), marks = [];
    needles.forEach(function (needle) {
      for (var at = piece.indexOf(needle); needle && at >= 0; at = piece.indexOf(needle, at + needle.length)) marks.push([at, at + needle.length]);
    });
    marks.sort(function (a, b) { return a[0] - b[0]; });
    var cursor = 0;
    fragment.append(start ? "…" : "");
    marks.forEach(function (mark) {
      if (mark[0] < cursor) return;
      var element = document.createElement("mark");
      element.textContent = shown.slice(start + mark[0], start + mark[1]);
      fragment.append(shown.slice(start + cursor, start + mark[0]).replace(/\s+/g, " "), element);
      cursor = mark[1];
    });
    fragment.append(shown.slice(start + cursor, end).replace(/\s+/g, " ") + (end < folded.length ? "…" : ""));
    return fragment;
  }

  // Whether the text holds every phrase of the query as consecutive units of one run.
  function holdsPhrases(text, wanted) {
    var textRuns = runs(text).map(function (run) { return "\u0001" + run.join("\u0001") + "\u0001"; });
    return wanted.every(function (run) {
      if (!run.phrase) return true;
      var needle = "\u0001" + run.units.join("\u0001") + "\u0001";
      return textRuns.some(function (textRun) { return textRun.indexOf(needle) >= 0; });
    });
  }

  // Each hit's page in a hidden frame, a few at a time; its text comes back by postMessage.
  var stopSnippets = function () {};  // of the query shown: a new query stops them, its frames and their listener

  function fillSnippets(items, wanted, onExcluded) {
    var queue = items.slice(), waiting = new Map();
    function listener(event) {
      var item = waiting.get(event.source);
      if (!item || !event.data || typeof event.data.naText !== "string") return;
      waiting.delete(event.source);
      item.frame.remove();
      if (holdsPhrases(event.data.naText, wanted)) {
        var p = document.createElement("p");
        p.className = "snippet";
        p.appendChild(snippet(event.data.naText.replace(/^[^\n]*\n/, ""), wanted));
        item.li.appendChild(p);
      } else {
        item.li.remove();
        onExcluded();
      }
      next();
    }
    function next() {
      var item = queue.shift();
      if (!item) {
        if (!waiting.size) window.removeEventListener("message", listener);
        return;
      }
      item.frame = document.createElement("iframe");
      item.frame.hidden = true;
      item.frame.src = item.href;
      document.body.appendChild(item.frame);
      waiting.set(item.frame.contentWindow, item);
    }
    stopSnippets = function () {
      queue.length = 0;
      waiting.forEach(function (item) { item.frame.remove(); });
      waiting.clear();
      window.removeEventListener("message", listener);
    };
    window.addEventListener("message", listener);
    for (var i = 0; i < FRAMES; i++) next();
  }

  function render(hits, page, params, wanted, current) {
    var shown = hits.top.slice((page - 1) * PAGE, page * PAGE), files = {};
    shown.forEach(function (hit) { files[hit.year + "/d" + Math.floor(hit.number / data.meta.docsPerFile) + ".js"] = true; });
    return Promise.all(Object.keys(files).map(load)).then(function () {
      if (!current()) return null;  // a later query's list may be shown already
      results.textContent = "";
      var items = [];
      shown.forEach(function (hit) {
        var doc = data.docs[hit.year + "/" + Math.floor(hit.number / data.meta.docsPerFile)][hit.number % data.meta.docsPerFile];
        var li = document.createElement("li"), time = document.createElement("time"), outlet = document.createElement("span");
        var link = document.createElement("a");
        time.textContent = beijing(doc[3]);
        outlet.className = "outlet";
        outlet.textContent = data.meta.outlets[doc[2]] || doc[2];
        link.href = base + "../" + doc[0];
        link.textContent = doc[1];
        li.append(time, " ", outlet, " ", link);
        results.appendChild(li);
        items.push({ li: li, href: link.href });
      });
      pager.textContent = "";
      [[page - 1, "← 上一页 Previous", page > 1], [page + 1, "下一页 Next →", page * PAGE < hits.count]].forEach(function (item) {
        if (!item[2]) return;
        params.set("page", item[0]);
        var a = document.createElement("a");
        a.href = "?" + params.toString();
        a.textContent = item[1];
        pager.appendChild(a);
      });
      return items;
    });
  }

  function pageOf(params) { return Math.max(1, parseInt(params.get("page") || "1", 10) || 1); }

  var latest = 0;  // the number of the last query run in this page: what an earlier one still brings is dropped
  var ran = null;  // the address's query it ran

  function run() {
    if (location.search === ran) return;  // back or forward to a fragment of the same query
    ran = location.search;
    var mine = ++latest;
    function current() { return mine === latest; }
    stopSnippets();
    var params = new URLSearchParams(location.search);
    var query = (params.get("q") || "").trim();
    document.querySelectorAll("form input, form select").forEach(function (field) {
      if (field.name) field.value = params.get(field.name) || (field.tagName === "SELECT" ? field.options[0].value : "");
    });
    results.textContent = "";
    pager.textContent = "";
    document.body.removeAttribute("data-results");
    if (!query) { show("输入搜索词。Type a word to search every article."); return; }
    show("搜索中… Searching…");
    performance.clearMarks();
    performance.mark("search-start");
    var wanted = null, hits = null, excluded = 0;
    var page = pageOf(params);
    var order = params.get("sort") === "date" ? "最新在前 newest first" : "按相关度 by relevance";
    function summary() {
      if (!current()) return;
      var found = hits.count - excluded;
      var phrase = wanted.some(function (r) { return r.phrase; }) ? "（短语逐篇核对 phrases checked as shown）" : "";
      show(found ? "找到 " + found + " 篇，" + order + phrase + "。" + found + " found." : "没有找到。Nothing found.");
    }
    // meta.js and t2s.js come with the page (script tags after this one), so the first round loads the shards.
    Promise.resolve(data.meta ? null : Promise.all([load("meta.js"), load("t2s.js")])).then(function () {
      performance.mark("search-meta");
      wanted = queryRuns(query);
      return search(params);
    }).then(function (found) {
      if (!current()) return null;
      hits = found;
      summary();
      return render(hits, page, params, wanted, current);
    }).then(function (items) {
      if (!items || !current()) return;
      document.body.setAttribute("data-results", String(Math.round(performance.now())));  // when shown: for tests and bench
      fillSnippets(items, wanted, function () { excluded++; summary(); });
    }).catch(function (error) {
      if (!current()) return;
      ran = null;  // the same query again tries again
      show("搜索出错：" + error.message + "。Search failed.");
    });
  }

  // A query typed here, or another page of hits, runs in this page: no page to start again, and the search files
  // loaded stay loaded. The address changes as if the page had been opened with it (back and forward work).
  function go(search) {
    try {
      history.pushState(null, "", search);
    } catch (error) {  // a browser that will not change a file:// address in place: open it
      location.search = search;
      return;
    }
    run();
  }
  var form = document.querySelector("form.filters");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) { if (value) params.set(name, String(value)); });
    go("?" + params.toString());
  });
  pager.addEventListener("click", function (event) {
    var link = event.target.closest("a");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;  // a new tab
    event.preventDefault();
    go(link.search);
    window.scrollTo(0, 0);
  });
  window.addEventListener("popstate", run);
  document.addEventListener("DOMContentLoaded", run);
})();
