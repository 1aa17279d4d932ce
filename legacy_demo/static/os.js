/* OS page: loads the OS data after the page is shown and writes it into the shell.
   The "Serviço" panel is only built when its tab is clicked; the long
   observações text only appears after "Mostrar mais" is clicked. */
(function () {
  "use strict";
  var body = document.body;
  var numero = body.getAttribute("data-numero");
  var atraso = parseInt(body.getAttribute("data-atraso-render") || "0", 10);
  var VAZIO = "\u2014";
  var dados = null;
  var servicoPedido = false;
  var servicoPronto = false;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function set(id, value) { document.getElementById(id).textContent = value; }

  function linha(tbody, rotulo, conteudo) {
    var tr = el("tr");
    var rotulos = (dados && dados.rotulos) || {};  // labels renamed by the admin API
    tr.appendChild(el("th", {}, rotulos[rotulo] || rotulo));
    var td = el("td");
    conteudo.forEach(function (parte) {
      td.appendChild(typeof parte === "string" ? document.createTextNode(parte) : parte);
    });
    tr.appendChild(td);
    tbody.appendChild(tr);
  }

  function renderCliente(c) {
    var tbody = document.querySelector("#tabela-cliente tbody");
    linha(tbody, "Razão social", [c.razao_social]);
    linha(tbody, "Nome fantasia", [c.nome_fantasia]);
    linha(tbody, "CNPJ", [c.cnpj]);
    linha(tbody, "Inscrição estadual", [c.inscricao_estadual]);
    linha(tbody, "Endereço", [el("span", {"class": "logradouro"}, c.logradouro), ", nº ",
                             el("span", {"class": "numero"}, c.numero)]);
    linha(tbody, "Complemento", [c.complemento]);
    linha(tbody, "Bairro", [c.bairro]);
    linha(tbody, "Cidade/UF", [el("span", {"class": "cidade"}, c.cidade), "/",
                              el("span", {"class": "uf"}, c.uf)]);
    linha(tbody, "CEP", [c.cep]);
    var fone = /^(\(\d{2}\)) (.+)$/.exec(c.telefone);
    linha(tbody, "Telefone", fone ? [el("span", {"class": "ddd"}, fone[1]), " ",
                                    el("span", {"class": "fone"}, fone[2])] : [c.telefone]);
    linha(tbody, "E-mail", [c.email]);
    linha(tbody, "Contato", [c.contato_nome]);
    linha(tbody, "Cargo", [c.contato_cargo]);
  }

  function renderEquipamento(e) {
    set("equip-numero-serie", e.numero_serie);
    set("equip-tipo", e.tipo);
    set("equip-fabricante", e.fabricante);
    set("equip-modelo", e.modelo);
    set("equip-ano-fabricacao", e.ano_fabricacao);
    set("equip-tag", e.tag_identificacao);
  }

  function renderHistorico(itens) {
    var ul = document.getElementById("lista-historico");
    if (!itens.length) { itens = ["Nenhum atendimento anterior registrado."]; }
    itens.forEach(function (t) { ul.appendChild(el("li", {}, t)); });
  }

  function renderServico() {
    var o = dados.os;
    var painel = document.getElementById("painel-servico");
    var tabela = el("table", {"id": "tabela-servico", "class": "tabela-dados"});
    [["Previsão de entrega", "srv-data-previsao", o.data_previsao],
     ["Data de conclusão", "srv-data-conclusao", o.data_conclusao],
     ["Setor", "srv-setor", o.setor],
     ["Técnico responsável", "srv-tecnico", o.tecnico_responsavel],
     ["Defeito relatado", "srv-defeito", o.defeito_relatado],
     ["Diagnóstico", "srv-diagnostico", o.diagnostico],
     ["Serviço executado", "srv-servico-executado", o.servico_executado],
     ["Horas trabalhadas", "srv-horas", o.horas_trabalhadas],
     ["Garantia", "srv-garantia", o.garantia_dias],
     ["Nota fiscal", "srv-nota-fiscal", o.nota_fiscal]].forEach(function (r) {
      linha(tabela, r[0], [el("span", {"id": r[1]}, r[2])]);
    });
    painel.appendChild(tabela);
    painel.appendChild(el("h3", {}, "Valores"));
    var valores = el("table", {"id": "tabela-valores", "class": "tabela-dados"});
    [["Mão de obra", "srv-valor-mao-obra", o.valor_mao_obra],
     ["Peças", "srv-valor-pecas", o.valor_pecas],
     ["Total", "srv-valor-total", o.valor_total]].forEach(function (r) {
      linha(valores, r[0], [el("span", {"id": r[1], "class": "dinheiro"}, r[2])]);
    });
    painel.appendChild(valores);
    painel.appendChild(el("h3", {}, "Observações"));
    var bloco = el("div", {"id": "srv-observacoes-bloco"});
    var obs = o.observacoes;
    if (obs === VAZIO || obs.length <= 60) {
      bloco.appendChild(el("span", {"id": "srv-observacoes"}, obs));
    } else {
      bloco.appendChild(el("span", {"id": "srv-observacoes", "class": "resumido"},
                           obs.slice(0, 60).replace(/\s+$/, "") + "…"));
      bloco.appendChild(document.createTextNode(" "));
      var mais = el("a", {"href": "#", "id": "mostrar-mais", "class": "mostrar-mais"}, "Mostrar mais");
      mais.addEventListener("click", function (ev) {
        ev.preventDefault();
        var alvo = document.getElementById("srv-observacoes");
        alvo.textContent = obs;
        alvo.className = "completo";
        mais.parentNode.removeChild(mais);
      });
      bloco.appendChild(mais);
    }
    painel.appendChild(bloco);
    painel.setAttribute("data-carregado", "1");
    servicoPronto = true;
  }

  function pedirServico() {
    servicoPedido = true;
    if (dados && !servicoPronto) { setTimeout(renderServico, Math.min(atraso, 100)); }
  }

  function mostrarAba(nome) {
    document.querySelectorAll("#abas .aba").forEach(function (a) {
      a.className = a.getAttribute("data-aba") === nome ? "aba ativa" : "aba";
    });
    document.getElementById("painel-historico").style.display = nome === "historico" ? "" : "none";
    document.getElementById("painel-servico").style.display = nome === "servico" ? "" : "none";
    if (nome === "servico" && !servicoPedido) { pedirServico(); }
  }
  document.querySelectorAll("#abas .aba").forEach(function (a) {
    a.addEventListener("click", function (ev) { ev.preventDefault(); mostrarAba(a.getAttribute("data-aba")); });
  });

  function render(d) {
    dados = d;
    set("os-numero", d.os.numero_os);
    set("os-status", d.os.status);
    set("os-data-abertura", d.os.data_abertura);
    set("os-prioridade", d.os.prioridade);
    renderCliente(d.cliente);
    renderEquipamento(d.equipamento);
    renderHistorico(d.historico || []);
    var aviso = document.getElementById("carregando");
    aviso.parentNode.removeChild(aviso);
    body.setAttribute("data-carregado", "1");
    if (servicoPedido) { pedirServico(); }
  }

  function falha(mensagem) {
    var caixa = document.getElementById("erro-carga");
    caixa.textContent = mensagem;
    caixa.style.display = "";
    body.setAttribute("data-carregado", "erro");
  }

  fetch("/api/os/" + encodeURIComponent(numero), {credentials: "same-origin",
                                                 headers: {"Accept": "application/json"}})
    .then(function (r) {
      if (r.status === 401) {
        window.location.href = "/login?expirada=1&next=" + encodeURIComponent(window.location.pathname);
        return null;
      }
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    })
    .then(function (d) { if (d) { setTimeout(function () { render(d); }, atraso); } })
    .catch(function (e) { falha("Erro ao carregar os dados da OS (" + e.message + ")."); });
})();
