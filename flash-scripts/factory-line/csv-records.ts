// CSV records (RFC 4180) with the line each starts on, collecting every
// quoting problem with its line instead of stopping at the first: factory
// files are fixed in one pass. (csv-parse stops at the first bad quote, or
// with skip_records_with_error loses the rows after it and their line numbers.)

export interface CsvRecord {
  line: number;
  fields: string[];
}

/** RFC 4180 records, each with the line it starts on (a quoted field may span lines). */
export function csvRecords(text: string, problems: string[]): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let start = 1;
  let i = 0;
  const endField = () => {
    fields.push(field);
    field = '';
  };
  const endRecord = () => {
    endField();
    records.push({ line: start, fields });
    fields = [];
  };
  while (i < text.length) {
    const c = text[i];
    if (c === '"' && field === '') {
      // A quoted field: up to the closing quote; "" is a quote.
      const opened = line;
      i++;
      let closed = false;
      while (i < text.length) {
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          closed = true;
          i++;
          break;
        }
        if (text[i] === '\n') line++;
        field += text[i++];
      }
      if (!closed) {
        problems.push(`line ${opened}: a quoted field is never closed`);
        return records;
      }
      const next = text[i];
      if (next !== undefined && next !== ',' && next !== '\n' && !(next === '\r' && text[i + 1] === '\n')) {
        problems.push(`line ${line}: text after a closing quote (double a quote inside a quoted field: "")`);
        while (i < text.length && text[i] !== ',' && text[i] !== '\n') i++; // resynchronise at the next field
      }
      continue;
    }
    if (c === ',') {
      endField();
      i++;
    } else if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
      endRecord();
      i += c === '\r' ? 2 : 1;
      line++;
      start = line;
    } else {
      if (c === '"') problems.push(`line ${line}: a quote inside an unquoted field (quote the whole field and double the quote: "a""b")`);
      field += c;
      i++;
    }
  }
  if (field !== '' || fields.length > 0) endRecord();
  return records;
}
