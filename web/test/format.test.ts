// The demo's formatting for pt-BR (demo/format.ts).
import { describe, expect, it } from 'vitest';
import { formatAge, formatCep, formatCnpj, formatDate, formatField, formatPhone } from '../demo/format';

describe('demo formatting (pt-BR)', () => {
  it('documents, postal codes and phones', () => {
    expect(formatCnpj('06380132000172')).toBe('06.380.132/0001-72');
    expect(formatCnpj('12345678901')).toBe('123.456.789-01');
    expect(formatCnpj('123')).toBe('123');
    expect(formatCep('73567998')).toBe('73567-998');
    expect(formatPhone('3130493983')).toBe('(31) 3049-3983');
    expect(formatPhone('31930493983')).toBe('(31) 93049-3983');
  });

  it('dates, money, measures and ages through Intl', () => {
    expect(formatDate('2019-03-31')).toBe('31/03/2019');
    expect(formatField('valor_mao_obra', '1947.36').replace(/\s/g, ' ')).toBe('R$ 1.947,36');
    expect(formatField('valor_total', 33217.32).replace(/\s/g, ' ')).toBe('R$ 33.217,32');
    expect(formatField('peso_kg', '948.8')).toBe('948,8 kg');
    expect(formatField('potencia_cv', '150.0')).toBe('150 cv');
    expect(formatField('ano_fabricacao', 2013)).toBe('2013');
    expect(formatField('garantia_dias', 180)).toBe('180 dias');
    expect(formatField('nota_fiscal', null)).toBe('—');
    expect(formatField('modelo', 'Alto Rendimento 160M')).toBe('Alto Rendimento 160M');
    expect(formatAge(30)).toBe('há 30 segundos');
    expect(formatAge(300)).toBe('há 5 minutos');
    expect(formatAge(86_400)).toBe('ontem');
  });
});
