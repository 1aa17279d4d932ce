// How the demo shows a record to a person in Brazil: documents, postal codes and phones
// with their usual punctuation; dates, money and measures through Intl for pt-BR. The
// API's values stay as they are (digits, ISO-8601, decimals); only the page formats.
const LOCALE = 'pt-BR';

const money = new Intl.NumberFormat(LOCALE, { style: 'currency', currency: 'BRL' });
const decimal = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 });
const integer = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0, useGrouping: false });
const day = new Intl.DateTimeFormat(LOCALE, { dateStyle: 'short', timeZone: 'UTC' });
const moment = new Intl.DateTimeFormat(LOCALE, { dateStyle: 'short', timeStyle: 'short' });
const relative = new Intl.RelativeTimeFormat(LOCALE, { numeric: 'auto' });

const UNITS: Record<string, string> = {
  potencia_cv: 'cv', tensao_v: 'V', corrente_a: 'A', rotacao_rpm: 'rpm', frequencia_hz: 'Hz', peso_kg: 'kg',
  horas_trabalhadas: 'h', garantia_dias: 'dias',
};

/** 06380132000172 -> 06.380.132/0001-72; any other shape is left as it is. */
export function formatCnpj(value: string): string {
  const d = value.replace(/\D/g, '');
  if (d.length === 14) return `${d.slice(0, 2)}.${d.slice(2, 5)}.${d.slice(5, 8)}/${d.slice(8, 12)}-${d.slice(12)}`;
  if (d.length === 11) return `${d.slice(0, 3)}.${d.slice(3, 6)}.${d.slice(6, 9)}-${d.slice(9)}`; // a CPF
  return value;
}

/** 73567998 -> 73567-998. */
export function formatCep(value: string): string {
  const d = value.replace(/\D/g, '');
  return d.length === 8 ? `${d.slice(0, 5)}-${d.slice(5)}` : value;
}

/** 3130493983 -> (31) 3049-3983; 31930493983 -> (31) 93049-3983. */
export function formatPhone(value: string): string {
  const d = value.replace(/\D/g, '');
  if (d.length === 10) return `(${d.slice(0, 2)}) ${d.slice(2, 6)}-${d.slice(6)}`;
  if (d.length === 11) return `(${d.slice(0, 2)}) ${d.slice(2, 7)}-${d.slice(7)}`;
  return value;
}

/** An ISO date (2019-03-31) as 31/03/2019; a date-time in the reader's time zone. */
export function formatDate(value: string): string {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return day.format(new Date(`${value}T00:00:00Z`));
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? value : moment.format(parsed);
}

/** Seconds ago in words: "há 5 minutos", "ontem". */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return relative.format(-s, 'second');
  if (s < 3600) return relative.format(-Math.floor(s / 60), 'minute');
  if (s < 86_400) return relative.format(-Math.floor(s / 3600), 'hour');
  return relative.format(-Math.floor(s / 86_400), 'day');
}

function asNumber(value: unknown): number | null {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return null;
}

/** One field of the record, by its name. */
export function formatField(field: string, value: unknown): string {
  if (value == null || value === '') return '—';
  const text = String(value);
  if (field === 'cnpj' || field === 'cpf') return formatCnpj(text);
  if (field === 'cep') return formatCep(text);
  if (/^(telefone|celular|fone)/.test(field)) return formatPhone(text);
  if (field.startsWith('data_') || field.endsWith('_em')) return formatDate(text);
  const n = asNumber(value);
  if (n !== null && field.startsWith('valor_')) return money.format(n);
  if (n !== null && field === 'ano_fabricacao') return integer.format(n);
  if (n !== null && UNITS[field]) return `${decimal.format(n)} ${UNITS[field]}`;
  if (n !== null && typeof value === 'number') return decimal.format(n);
  return text;
}
