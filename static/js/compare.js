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

  function fill(select, images, fallback) {
    var kept = select.value;
    select.textContent = "";
    images.forEach(function (img) {
      var option = document.createElement("option");
      option.value = img.getAttribute("src");
      option.text = img.dataset.compare;
      select.appendChild(option);
    });
    var values = images.map(function (img) { return img.getAttribute("src"); });
    select.value = values.indexOf(kept) >= 0 ? kept : (values[fallback] || values[0] || "");
  }

  function refresh() {
    var images = Array.prototype.slice.call(document.querySelectorAll(".experiment-grid img[data-compare]"));
    fill(left, images, 0);
    fill(right, images, 1);
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
