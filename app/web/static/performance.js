// tvbridge Performance page: the equity curve and the price chart of a contract with the trades'
// entries, exits, stop losses and take profits, drawn with TradingView's Lightweight Charts v5
// (vendored: static/vendor/). The numbers come from the page's JSON data element (the same as
// /api/performance); the bars from /api/bars. Each chart sets data-state ("drawn", "empty" or
// "error") and its counts (data-points, data-markers, data-lines) once drawn, for the tests.
"use strict";

(function () {
  const LWC = window.LightweightCharts;
  const dataElement = document.getElementById("performance-data");
  if (!dataElement) return;
  const data = JSON.parse(dataElement.textContent);

  const COLORS = { up: "#1f7a3a", down: "#b3261e", entry: "#1f5fa8", exit: "#6b3fa0",
                   stopLoss: "#b3261e", takeProfit: "#1f7a3a", grid: "#eceeea", text: "#1d1f21" };

  // Seconds since the epoch (what the library calls UTCTimestamp), floored to the minute when
  // `minute` is set: a one-minute bar's time.
  function seconds(iso, minute) {
    const s = Math.floor(Date.parse(iso) / 1000);
    return minute ? s - (s % 60) : s;
  }

  // The library shows UTC; the trader reads local time (the page says so).
  function localTime(time) {
    return new Date(time * 1000).toLocaleString([], { month: "short", day: "numeric",
                                                      hour: "2-digit", minute: "2-digit" });
  }
  function tickMark(time, tickType) {
    const d = new Date(time * 1000);
    return tickType <= 2 ? d.toLocaleDateString([], { month: "short", day: "numeric" })
                         : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function makeChart(element) {
    return LWC.createChart(element, {
      autoSize: true,
      layout: { background: { color: "#ffffff" }, textColor: COLORS.text, attributionLogo: false },
      grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
      localization: { timeFormatter: localTime },
      timeScale: { timeVisible: true, secondsVisible: false, tickMarkFormatter: tickMark },
    });
  }

  function fail(element, message) {
    element.dataset.state = "error";
    const note = document.createElement("p");
    note.className = "chart-error";
    note.textContent = message;
    element.replaceChildren(note);
  }

  // Equity: the cumulative net P&L after each closed trade, from 0; green above 0, red below.
  function drawEquity() {
    const element = document.getElementById("equity-chart");
    if (!element) return;
    if (!data.equity.length) {
      element.dataset.state = "empty";
      element.textContent = "No closed trade in this range.";
      return;
    }
    const points = new Map();  // one point per second: the last trade closing in it wins
    const first = seconds(data.equity[0].at) - 1;
    points.set(first, 0);
    for (const p of data.equity) points.set(seconds(p.at), parseFloat(p.equity));
    const chart = makeChart(element);
    const series = chart.addSeries(LWC.BaselineSeries, {
      baseValue: { type: "price", price: 0 },
      topLineColor: COLORS.up, bottomLineColor: COLORS.down,
      topFillColor1: "rgba(31,122,58,0.25)", topFillColor2: "rgba(31,122,58,0.05)",
      bottomFillColor1: "rgba(179,38,30,0.05)", bottomFillColor2: "rgba(179,38,30,0.25)",
    });
    const rows = Array.from(points, ([time, value]) => ({ time, value })).sort((a, b) => a.time - b.time);
    series.setData(rows);
    chart.timeScale().fitContent();
    element.dataset.points = String(rows.length);
    element.dataset.state = "drawn";
  }

  // Markers of the trades: an arrow at each entry fill, a circle at each exit fill, at the price.
  function tradeMarkers(trades) {
    const markers = [];
    for (const t of trades) {
      const long = t.side === "BUY";
      markers.push({ time: seconds(t.opened_at, true), position: "atPriceMiddle",
                     price: parseFloat(t.entry_price), shape: long ? "arrowUp" : "arrowDown",
                     color: COLORS.entry, text: `${long ? "Buy" : "Sell"} ${t.size}` });
      if (t.closed_at && t.exit_price !== null) {
        markers.push({ time: seconds(t.closed_at, true), position: "atPriceMiddle",
                       price: parseFloat(t.exit_price), shape: "circle", color: COLORS.exit,
                       text: t.net !== null ? `Exit ${t.net}` : "Exit" });
      }
    }
    return markers.sort((a, b) => a.time - b.time);
  }

  async function drawPrice() {
    const element = document.getElementById("price-chart");
    const chart = data.chart;
    if (!element || !chart.contract_id) return;
    const query = new URLSearchParams({ contract: chart.contract_id, start: chart.start, end: chart.end });
    let answer;
    try {
      const response = await fetch(`/api/bars?${query}`, { headers: { Accept: "application/json" } });
      answer = await response.json();
      if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    } catch (error) {
      fail(element, `No bars: ${error.message}`);
      return;
    }
    const rows = new Map();
    for (const b of answer.bars) {
      rows.set(seconds(b.t, true), { open: parseFloat(b.o), high: parseFloat(b.h),
                                     low: parseFloat(b.l), close: parseFloat(b.c) });
    }
    const markers = tradeMarkers(chart.trades);
    // A fill in a minute without a bar (the simulator keeps no history) still gets its marker:
    // whitespace (a time without a bar) holds its place on the time scale.
    const times = new Set([...rows.keys(), ...markers.map((m) => m.time)]);
    const lines = chart.protection.map((p) => ({
      leg: p.leg, price: parseFloat(p.price),
      from: seconds(p.from, true), until: seconds(p.until || chart.end, true),
    }));
    for (const line of lines) { times.add(line.from); times.add(line.until); }
    const candles = Array.from(times).sort((a, b) => a - b)
      .map((time) => (rows.has(time) ? { time, ...rows.get(time) } : { time }));
    const lwc = makeChart(element);
    const series = lwc.addSeries(LWC.CandlestickSeries, {
      upColor: COLORS.up, downColor: COLORS.down, borderVisible: false,
      wickUpColor: COLORS.up, wickDownColor: COLORS.down,
    });
    series.setData(candles);
    LWC.createSeriesMarkers(series, markers);
    // Each stop loss / take profit: a dashed segment at its price over the trade it protected.
    for (const line of lines) {
      const segment = lwc.addSeries(LWC.LineSeries, {
        color: line.leg === "stop_loss" ? COLORS.stopLoss : COLORS.takeProfit,
        lineWidth: 2, lineStyle: 2, lastValueVisible: false, priceLineVisible: false,
        crosshairMarkerVisible: false, title: line.leg === "stop_loss" ? "SL" : "TP",
      });
      const end = Math.max(line.until, line.from + 60);
      segment.setData([{ time: line.from, value: line.price }, { time: end, value: line.price }]);
    }
    lwc.timeScale().fitContent();
    element.dataset.bars = String(rows.size);
    element.dataset.markers = String(markers.length);
    element.dataset.lines = String(lines.length);
    element.dataset.state = "drawn";
  }

  if (!LWC) {
    for (const id of ["equity-chart", "price-chart"]) {
      const element = document.getElementById(id);
      if (element) fail(element, "The chart library did not load.");
    }
    return;
  }
  drawEquity();
  drawPrice();
})();
