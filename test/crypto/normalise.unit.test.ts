import t from 'tap';
import {
  birthDateFromNationalId,
  normaliseBatchNumber,
  normaliseEmail,
  normaliseNationalId,
  normalisePhone,
} from '../../src/crypto/index.js';

t.test('email: trimmed and lower-cased', async (t) => {
  t.equal(normaliseEmail('  Anna.Hansen@Example.DK '), 'anna.hansen@example.dk');
  t.equal(normaliseEmail('ANNA@EXAMPLE.DK'), normaliseEmail('anna@example.dk'));
  for (const bad of ['', 'anna', '@example.dk', 'anna@', 'an na@example.dk', 'a@b@c']) {
    t.equal(normaliseEmail(bad), null, `invalid: ${JSON.stringify(bad)}`);
  }
});

t.test('phone: +45 default, 0045 and +45 and none are one number', async (t) => {
  const same = [
    '12345678',
    '12 34 56 78',
    '12-34-56-78',
    '+45 12 34 56 78',
    '+4512345678',
    '0045 1234 5678',
    '0045-12-34-56-78',
    '(+45) 12 34 56 78',
    ' 12.34.56.78 ',
  ];
  for (const value of same) t.equal(normalisePhone(value), '+4512345678', value);
  t.equal(normalisePhone('+46 70 123 45 67'), '+46701234567', 'another country keeps its code');
  t.equal(normalisePhone('0046701234567'), '+46701234567');
  for (const bad of ['', '1234', '+45 1234 567', '+45 123456789', 'twelve', '12ab5678', '+']) {
    t.equal(normalisePhone(bad), null, `invalid: ${JSON.stringify(bad)}`);
  }
});

t.test('CPR: 10 digits, with or without the dash, and a real date', async (t) => {
  t.equal(normaliseNationalId('010190-1234'), '0101901234');
  t.equal(normaliseNationalId(' 0101901234 '), '0101901234');
  t.equal(normaliseNationalId('310190-1234'), '3101901234');
  for (const bad of [
    '320190-1234', // day 32
    '011390-1234', // month 13
    '000190-1234', // day 0
    '310490-1234', // 31 April
    '290201-1234', // 29 Feb 1901: not a leap year
    '0101 90 1234',
    '010190_1234',
    '01019-01234',
    '010190-123',
    '',
  ]) {
    t.equal(normaliseNationalId(bad), null, `invalid: ${JSON.stringify(bad)}`);
  }
  // 29 February exists in 2000 (7th digit 4, year 00 → 2000) but not in 1900 (7th digit 0-3).
  t.equal(normaliseNationalId('290200-4123'), '2902004123');
  t.equal(normaliseNationalId('290200-1123'), null);
  t.equal(birthDateFromNationalId('290200-4123'), '2000-02-29');
  t.equal(birthDateFromNationalId('010190-1234'), '1990-01-01');
  t.equal(birthDateFromNationalId('010160-5234'), '1860-01-01', '7th digit 5-8, year 58-99');
  t.equal(birthDateFromNationalId('010137-4234'), '1937-01-01', '7th digit 4, year 37-99');
  t.equal(birthDateFromNationalId('010120-9234'), '2020-01-01');
});

t.test('batch number: trimmed, upper-cased, no spaces', async (t) => {
  t.equal(normaliseBatchNumber(' ab 12-3x '), 'AB12-3X');
  t.equal(normaliseBatchNumber('AB12-3X'), normaliseBatchNumber('ab 12 - 3x'.replace(' - ', '-')));
  t.equal(normaliseBatchNumber('   '), null);
  t.equal(normaliseBatchNumber('x'.repeat(101)), null);
});
