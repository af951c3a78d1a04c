// Filters for the report's tables: every <table data-filter> row carries data-* attributes;
// controls with data-filter-for name the table and the attribute they filter on.
(function () {
  function apply(table) {
    var controls = document.querySelectorAll('[data-filter-for="' + table.id + '"]');
    var rows = table.tBodies[0].rows, shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i], ok = true;
      controls.forEach(function (c) {
        var v = c.value;
        if (!v) return;
        if (c.dataset.attr === 'text') {
          ok = ok && row.textContent.toLowerCase().indexOf(v.toLowerCase()) >= 0;
        } else {
          ok = ok && row.dataset[c.dataset.attr] === v;
        }
      });
      row.style.display = ok ? '' : 'none';
      if (ok) shown++;
    }
    var counter = document.getElementById(table.id + '-count');
    if (counter) counter.textContent = shown + ' of ' + rows.length + ' rows shown';
  }
  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('table[data-filter]').forEach(function (table) {
      document.querySelectorAll('[data-filter-for="' + table.id + '"]').forEach(function (c) {
        c.addEventListener('input', function () { apply(table); });
        c.addEventListener('change', function () { apply(table); });
      });
      apply(table);
    });
  });
  // Figures drawn while the page was still being laid out took a provisional width: refit them.
  window.addEventListener('load', function () {
    document.querySelectorAll('.js-plotly-plot').forEach(function (g) { Plotly.Plots.resize(g); });
  });
})();
