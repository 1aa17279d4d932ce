/* Technical data frame: values arrive from the OS data endpoint after load. */
(function () {
  "use strict";
  var body = document.body;
  var numero = body.getAttribute("data-numero");
  var atraso = parseInt(body.getAttribute("data-atraso-render") || "0", 10);
  var campos = {
    "potencia": "potencia_cv", "tensao": "tensao_v", "corrente": "corrente_a",
    "rotacao": "rotacao_rpm", "frequencia": "frequencia_hz", "grau-protecao": "grau_protecao",
    "carcaca": "carcaca", "peso": "peso_kg", "classe-isolamento": "classe_isolamento"
  };
  function render(e) {
    Object.keys(campos).forEach(function (g) {
      document.querySelector('td[data-grandeza="' + g + '"]').textContent = e[campos[g]];
    });
    body.setAttribute("data-carregado", "1");
  }
  fetch("/api/os/" + encodeURIComponent(numero), {credentials: "same-origin",
                                                 headers: {"Accept": "application/json"}})
    .then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    })
    .then(function (d) { setTimeout(function () { render(d.equipamento); }, atraso); })
    .catch(function (e) {
      body.setAttribute("data-carregado", "erro");
      document.getElementById("dados-tecnicos").insertAdjacentHTML(
        "beforebegin", '<p class="alert alert-error">Falha ao carregar os dados técnicos.</p>');
    });
})();
