/* controller._linescan: the values of one metric pattern of the shape L(X{lo,hi})S over a buffer of
 * log lines, converted to numbers, without a Python object per value.
 *
 * This is an accelerator for controller/matching.py, which decides which patterns have this shape
 * (see native_form there) and falls back to Python's re or RE2 (same results) when this module is
 * not built. The shape: a literal L (one byte or more), one group holding one single-byte item X
 * (a set of bytes, given as a 256-byte table) repeated lo to hi times (hi < 0: no bound), then a
 * literal S (possibly empty) whose first byte is not in X. Neither L, S nor X holds "\n".
 *
 * The scan is re.finditer's, for this shape: find L from the current position; take the longest
 * run of X bytes after it (at most hi); it is a match when the run has lo bytes or more and S
 * follows it (backtracking cannot help: a shorter run is followed by an X byte, and S's first byte
 * is not one); after a match the search goes on at its end, after a failure at L's next byte. Time
 * is linear in the buffer when L holds a byte outside X (matching.linear_form's proof).
 *
 * A value is a number when it is one in ASCII: [ \t]*[+-]?(digits[.digits*]|.digits)([eE][+-]?digits)?[ \t]*,
 * finite, converted as float() converts it (correctly rounded: exactly, for at most 15 digits and a
 * power of ten up to 22, Clinger's fast path; by PyOS_string_to_double, which float() uses, otherwise).
 * Values that are not numbers are counted, not returned.
 *
 * scan(text, pos, end, literal, table, lo, hi, suffix) -> (bytes of native doubles, values refused)
 * The GIL is released while the buffer is scanned.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

enum { NUMBER = 0, REFUSED = 1, SLOW = 2 };

/* Parse v[0:n] by the grammar above. NUMBER: *out is the value. SLOW: a number that needs the full
 * conversion, whose token (spaces and tabs stripped) is v[*tok_start : *tok_end]. REFUSED: none. */
static int parse_number(const unsigned char *v, Py_ssize_t n, double *out, Py_ssize_t *tok_start,
                        Py_ssize_t *tok_end) {
    Py_ssize_t i = 0, j = n;
    while (i < j && (v[i] == ' ' || v[i] == '\t')) i++;
    while (j > i && (v[j - 1] == ' ' || v[j - 1] == '\t')) j--;
    *tok_start = i;
    *tok_end = j;
    int negative = 0;
    if (i < j && (v[i] == '+' || v[i] == '-')) {
        negative = v[i] == '-';
        i++;
    }
    uint64_t mantissa = 0;
    int digits = 0, fraction = 0, many = 0;
    while (i < j && v[i] >= '0' && v[i] <= '9') {
        if (digits < 19) mantissa = mantissa * 10 + (uint64_t)(v[i] - '0'); else many = 1;
        digits++;
        i++;
    }
    if (i < j && v[i] == '.') {
        i++;
        while (i < j && v[i] >= '0' && v[i] <= '9') {
            if (digits < 19) mantissa = mantissa * 10 + (uint64_t)(v[i] - '0'); else many = 1;
            digits++;
            fraction++;
            i++;
        }
    }
    if (digits == 0) return REFUSED;
    long exponent = 0;
    if (i < j && (v[i] == 'e' || v[i] == 'E')) {
        i++;
        int exponent_negative = 0;
        if (i < j && (v[i] == '+' || v[i] == '-')) {
            exponent_negative = v[i] == '-';
            i++;
        }
        if (i >= j || v[i] < '0' || v[i] > '9') return REFUSED;
        while (i < j && v[i] >= '0' && v[i] <= '9') {
            if (exponent < 100000) exponent = exponent * 10 + (v[i] - '0');
            i++;
        }
        if (exponent_negative) exponent = -exponent;
    }
    if (i != j) return REFUSED;
    long power = exponent - fraction;
    if (many || digits > 15 || power < -22 || power > 22) return SLOW;
    double value = (double)mantissa;  /* exact: below 10**15 < 2**53 */
    value = power < 0 ? value / POW10[-power] : value * POW10[power];  /* one correctly rounded step */
    *out = negative ? -value : value;
    return NUMBER;
}

typedef struct {
    double *values;
    Py_ssize_t count, capacity;
    Py_ssize_t *slow;  /* triples: index in values, token start, token end (in the text) */
    Py_ssize_t slow_count, slow_capacity;
    Py_ssize_t refused;
    int failed;
} Found;

static int grow(void **items, Py_ssize_t *capacity, Py_ssize_t needed, size_t size) {
    if (needed <= *capacity) return 0;
    Py_ssize_t wanted = *capacity ? *capacity * 2 : 1024;
    while (wanted < needed) wanted *= 2;
    void *bigger = realloc(*items, (size_t)wanted * size);
    if (bigger == NULL) return -1;
    *items = bigger;
    *capacity = wanted;
    return 0;
}

/* The byte of the literal that is rarest in the first bytes of text[pos:end]: the one searched for
 * (memchr), the others compared where it is found. */
static Py_ssize_t rarest_byte(const unsigned char *text, Py_ssize_t pos, Py_ssize_t end, const unsigned char *literal,
                              Py_ssize_t literal_len) {
    Py_ssize_t counts[256] = {0}, sample_end = end - pos > 4096 ? pos + 4096 : end, best = 0;
    for (Py_ssize_t i = pos; i < sample_end; i++) counts[text[i]]++;
    for (Py_ssize_t i = 1; i < literal_len; i++)
        if (counts[literal[i]] <= counts[literal[best]]) best = i;
    return best;
}

static void scan_text(const unsigned char *text, Py_ssize_t pos, Py_ssize_t end, const unsigned char *literal,
                      Py_ssize_t literal_len, const unsigned char *table, Py_ssize_t lo, Py_ssize_t hi,
                      const unsigned char *suffix, Py_ssize_t suffix_len, Found *found) {
    Py_ssize_t anchor = rarest_byte(text, pos, end, literal, literal_len);
    unsigned char key = literal[anchor];
    while (pos + literal_len <= end) {
        const unsigned char *at = memchr(text + pos + anchor, key, (size_t)(end - literal_len + 1 - pos));
        if (at == NULL) break;
        Py_ssize_t start = (at - text) - anchor;
        if (text[start] != literal[0] || memcmp(text + start, literal, (size_t)literal_len) != 0) {
            pos = start + 1;
            continue;
        }
        Py_ssize_t value_start = start + literal_len, stop = value_start;
        Py_ssize_t limit = hi < 0 || hi > end - value_start ? end : value_start + hi;
        while (stop < limit && table[text[stop]]) stop++;
        if (stop - value_start < lo || end - stop < suffix_len ||
            (suffix_len && memcmp(text + stop, suffix, (size_t)suffix_len) != 0)) {
            pos = start + 1;
            continue;
        }
        pos = stop + suffix_len;
        double value;
        Py_ssize_t tok_start, tok_end;
        int kind = parse_number(text + value_start, stop - value_start, &value, &tok_start, &tok_end);
        if (kind == REFUSED) {
            found->refused++;
            continue;
        }
        if (grow((void **)&found->values, &found->capacity, found->count + 1, sizeof(double)) < 0) {
            found->failed = 1;
            return;
        }
        if (kind == SLOW) {
            if (grow((void **)&found->slow, &found->slow_capacity, found->slow_count + 3, sizeof(Py_ssize_t)) < 0) {
                found->failed = 1;
                return;
            }
            found->slow[found->slow_count++] = found->count;
            found->slow[found->slow_count++] = value_start + tok_start;
            found->slow[found->slow_count++] = value_start + tok_end;
            value = 0.0;
        }
        found->values[found->count++] = value;
    }
}

/* The slow values, converted as float() converts them; a value that is not finite is refused
 * (dropped from values, which are compacted in place). Needs the GIL. */
static int convert_slow(const unsigned char *text, Found *found) {
    if (!found->slow_count) return 0;
    char small[64];
    Py_ssize_t write = 0, read = 0, k = 0;
    for (; k < found->slow_count; k += 3) {
        Py_ssize_t index = found->slow[k], start = found->slow[k + 1], stop = found->slow[k + 2];
        while (read < index) found->values[write++] = found->values[read++];
        read++;  /* the placeholder */
        Py_ssize_t n = stop - start;
        char *token = n < (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)n + 1);
        if (token == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(token, text + start, (size_t)n);
        token[n] = '\0';
        double value = PyOS_string_to_double(token, NULL, NULL);  /* overflow: +-inf, no exception */
        if (token != small) PyMem_Free(token);
        if (value == -1.0 && PyErr_Occurred()) {  /* cannot happen after parse_number; refuse it anyway */
            PyErr_Clear();
            found->refused++;
            continue;
        }
        if (!isfinite(value)) {
            found->refused++;
            continue;
        }
        found->values[write++] = value;
    }
    while (read < found->count) found->values[write++] = found->values[read++];
    found->count = write;
    return 0;
}

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer text;
    Py_ssize_t pos, end, literal_len, table_len, lo, hi, suffix_len;
    const char *literal, *table, *suffix;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nny#y#nny#", &text, &pos, &end, &literal, &literal_len, &table, &table_len,
                          &lo, &hi, &suffix, &suffix_len))
        return NULL;
    if (table_len != 256 || literal_len < 1) {
        PyBuffer_Release(&text);
        PyErr_SetString(PyExc_ValueError, "scan needs a literal of one byte or more and a table of 256 bytes");
        return NULL;
    }
    if (pos < 0) pos = 0;
    if (end > text.len) end = text.len;
    Found found = {0};
    const unsigned char *bytes = (const unsigned char *)text.buf;
    Py_BEGIN_ALLOW_THREADS
    scan_text(bytes, pos, end, (const unsigned char *)literal, literal_len, (const unsigned char *)table, lo, hi,
              (const unsigned char *)suffix, suffix_len, &found);
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    if (found.failed) {
        PyErr_NoMemory();
    } else if (convert_slow(bytes, &found) == 0) {
        PyObject *values = PyBytes_FromStringAndSize((const char *)found.values, found.count * (Py_ssize_t)sizeof(double));
        if (values != NULL) result = Py_BuildValue("(Nn)", values, found.refused);
    }
    free(found.values);
    free(found.slow);
    PyBuffer_Release(&text);
    return result;
}

/* find(text, pos, end, literal) -> list of the positions of every occurrence of literal in text[pos:end]
 * that does not overlap an earlier one (as repeated bytes.find from the end of the last). */
static PyObject *find(PyObject *self, PyObject *args) {
    Py_buffer text;
    Py_ssize_t pos, end, literal_len;
    const char *literal;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nny#", &text, &pos, &end, &literal, &literal_len)) return NULL;
    if (literal_len < 1) {
        PyBuffer_Release(&text);
        PyErr_SetString(PyExc_ValueError, "find needs a literal of one byte or more");
        return NULL;
    }
    if (pos < 0) pos = 0;
    if (end > text.len) end = text.len;
    const unsigned char *bytes = (const unsigned char *)text.buf, *lit = (const unsigned char *)literal;
    PyObject *out = PyList_New(0);
    if (out == NULL) goto done;
    Py_ssize_t anchor = rarest_byte(bytes, pos, end, lit, literal_len);
    while (pos + literal_len <= end) {
        const unsigned char *at = memchr(bytes + pos + anchor, lit[anchor], (size_t)(end - literal_len + 1 - pos));
        if (at == NULL) break;
        Py_ssize_t start = (at - bytes) - anchor;
        if (memcmp(bytes + start, lit, (size_t)literal_len) != 0) {
            pos = start + 1;
            continue;
        }
        PyObject *where = PyLong_FromSsize_t(start);
        if (where == NULL || PyList_Append(out, where) < 0) {
            Py_XDECREF(where);
            Py_CLEAR(out);
            goto done;
        }
        Py_DECREF(where);
        pos = start + literal_len;
    }
done:
    PyBuffer_Release(&text);
    return out;
}

/* Length of a Kubernetes log stamp and its space at s[0:n] (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z and
 * a space, as controller/kubernetes/stamps.py's _STAMP reads it), or 0 when none starts there. */
static Py_ssize_t stamp_length(const unsigned char *s, Py_ssize_t n) {
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    Py_ssize_t i = 0;
    for (; shape[i]; i++) {
        if (i >= n) return 0;
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != (unsigned char)shape[i]) return 0;
    }
    if (i < n && s[i] == '.') {
        Py_ssize_t digits = 0;
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            digits++;
            i++;
        }
        if (digits < 1 || digits > 9) return 0;  /* the regex cannot backtrack to a 'Z' among digits */
    }
    if (i + 1 < n && s[i] == 'Z' && s[i + 1] == ' ') return i + 2;
    return 0;
}

/* unstamp(data) -> data without the stamp after each "\n" (as _STAMP_AFTER_BREAK.sub(b"\n", data)). */
static PyObject *unstamp(PyObject *self, PyObject *args) {
    Py_buffer data;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    const unsigned char *in = (const unsigned char *)data.buf;
    Py_ssize_t n = data.len;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    unsigned char *to = (unsigned char *)PyBytes_AS_STRING(out);
    Py_ssize_t read = 0, written = 0;
    Py_BEGIN_ALLOW_THREADS
    while (read < n) {
        const unsigned char *newline = memchr(in + read, '\n', (size_t)(n - read));
        Py_ssize_t stop = newline ? (newline - in) + 1 : n;
        memcpy(to + written, in + read, (size_t)(stop - read));
        written += stop - read;
        read = stop;
        if (newline) read += stamp_length(in + read, n - read);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    if (written < n && _PyBytes_Resize(&out, written) < 0) return NULL;
    return out;
}

static PyMethodDef methods[] = {
    {"unstamp", unstamp, METH_VARARGS, "unstamp(data) -> data without the log stamp after each line break"},
    {"find", find, METH_VARARGS, "find(text, pos, end, literal) -> positions of literal, not overlapping"},
    {"scan", scan, METH_VARARGS,
     "scan(text, pos, end, literal, table, lo, hi, suffix) -> (native doubles as bytes, values refused)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_linescan",
                                    "Metric values of one L(X{lo,hi})S pattern over log lines (see the source).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__linescan(void) { return PyModule_Create(&module); }
