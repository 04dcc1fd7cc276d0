// The two-image view of an experiment: pick two ready cells; the range input clips the top
// (left) image so the bottom (right) one shows through. Cells finish while the page is open
// (htmx swaps them in), so the choices are read again after every swap.
(function () {
  "use strict";
  var left = document.getElementById("slider-left");
  var right = document.getElementById("slider-right");
  var range = document.getElementById("slider-range");
  var top = document.getElementById("slider-top");
  var bottom = document.getElementById("slider-bottom");
  var frame = document.getElementById("slider-frame");
  var empty = document.getElementById("slider-empty");
  if (!left || !right || !range || !top || !bottom || !frame) return;

  function clip() {
    // inset(top right bottom left): hide the part of the top image right of the handle.
    top.style.clipPath = "inset(0 " + (100 - Number(range.value)) + "% 0 0)";
  }

  function show() {
    top.src = left.value;
    top.alt = "Left: " + (left.selectedOptions[0] ? left.selectedOptions[0].text : "");
    bottom.src = right.value;
    bottom.alt = "Right: " + (right.selectedOptions[0] ? right.selectedOptions[0].text : "");
    clip();
  }

  // Fill a select with the ready images; keep its choice if still there, else take the first
  // image that is not ``avoid`` (so the two sides start on different images).
  function fill(select, images, avoid) {
    var kept = select.value;
    select.textContent = "";
    images.forEach(function (img) {
      var option = document.createElement("option");
      option.value = img.getAttribute("src");
      option.text = img.dataset.compare;
      select.appendChild(option);
    });
    var values = images.map(function (img) { return img.getAttribute("src"); });
    var others = values.filter(function (value) { return value !== avoid; });
    select.value = values.indexOf(kept) >= 0 && kept !== avoid ? kept : (others[0] || values[0] || "");
  }

  // The experiment's status from its cells' (as the server derives it), kept current as
  // cells finish.
  function updateStatus() {
    var status = document.getElementById("experiment-status");
    var cells = Array.prototype.slice.call(document.querySelectorAll(".experiment-grid .cell"));
    if (!status || !cells.length) return;
    var states = cells.map(function (cell) { return cell.dataset.status; });
    var done = states.filter(function (s) { return s === "succeeded"; }).length;
    var value = states.some(function (s) { return s === "queued" || s === "running"; }) ? "running"
      : done === states.length ? "succeeded" : done ? "partial" : "failed";
    status.textContent = value;
    status.className = "status status-" + value;
  }

  function refresh() {
    updateStatus();
    var images = Array.prototype.slice.call(document.querySelectorAll(".experiment-grid img[data-compare]"));
    fill(left, images, null);
    fill(right, images, left.value);
    var ready = images.length >= 2;
    frame.hidden = !ready;
    if (empty) empty.hidden = ready;
    if (ready) show();
  }

  left.addEventListener("change", show);
  right.addEventListener("change", show);
  range.addEventListener("input", clip);
  document.body.addEventListener("htmx:afterSwap", refresh);
  refresh();
})();
