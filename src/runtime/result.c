/* SPDX-License-Identifier: Apache-2.0 */
/* The result envelope and the stable error types; see result.h and capsule.h. */
#include "runtime/json_text.h"
#include "runtime/result.h"

#include "runtime/policy.h"
#include "runtime/rt.h"
#include "util/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {
#define CAP_X(name, str, desc) str,
    CAP_ERROR_TYPE_MAP(CAP_X)
#undef CAP_X
};

static const char *const type_descriptions[] = {
#define CAP_X(name, str, desc) desc,
    CAP_ERROR_TYPE_MAP(CAP_X)
#undef CAP_X
};

#define NTYPES (sizeof type_names / sizeof type_names[0])

const char *
cap_error_type_name(cap_error_type type)
{
    return (unsigned)type < NTYPES ? type_names[type] : "host_error";
}

const char *
cap_error_type_description(cap_error_type type)
{
    return (unsigned)type < NTYPES ? type_descriptions[type] : "unknown error type";
}

bool
cap_error_type_parse(const char *name, cap_error_type *out)
{
    for (unsigned i = 0; name && i < NTYPES; i++) {
        if (strcmp(name, type_names[i]) == 0) {
            *out = (cap_error_type)i;
            return true;
        }
    }
    return false;
}

cap_error_type
cap_error_type_of(const cap_error_t *err)
{
    if (!err) {
        return CAP_ERRTYPE_NONE;
    }
    switch (err->status) {
    case CAP_ERR_OK:
        return CAP_ERRTYPE_NONE;
    case CAP_ERR_TRAP:
        switch (err->trap) {
        case CAP_TRAP_OUT_OF_FUEL:
            return CAP_ERRTYPE_OUT_OF_FUEL;
        case CAP_TRAP_TIMEOUT:
            return CAP_ERRTYPE_TIMEOUT;
        case CAP_TRAP_MEMORY_LIMIT:
            return CAP_ERRTYPE_MEMORY_LIMIT;
        case CAP_TRAP_EXIT:
            return err->exit_code == 0 ? CAP_ERRTYPE_NONE : CAP_ERRTYPE_EXIT;
        case CAP_TRAP_HOST:
            return CAP_ERRTYPE_HOST_ERROR;
        default:
            return CAP_ERRTYPE_TRAP;
        }
    case CAP_ERR_MALFORMED:
    case CAP_ERR_INVALID:
    case CAP_ERR_LINK:
        return CAP_ERRTYPE_INVALID_MODULE;
    case CAP_ERR_DENIED:
        return CAP_ERRTYPE_DENIED;
    case CAP_ERR_CONFIG:
        return CAP_ERRTYPE_INVALID_CONFIG;
    case CAP_ERR_NOMEM:
    case CAP_ERR_IO:
    case CAP_ERR_USAGE:
        return CAP_ERRTYPE_HOST_ERROR;
    }
    return CAP_ERRTYPE_HOST_ERROR;
}

void
cap_task_result_init(cap_task_result *r)
{
    memset(r, 0, sizeof *r);
    r->success = true;
}

void
cap_task_result_clear(cap_task_result *r)
{
    json_decref(r->result);
    json_decref(r->error_extra);
    cap_free(r->error_message);
    cap_free(r->task_name);
    cap_free(r->out.data);
    cap_free(r->err.data);
    json_decref(r->host_requests);
    cap_task_result_init(r);
}

cap_status
cap_task_result_set_name(cap_task_result *r, const char *name)
{
    char *s = cap_strdup(name ? name : "");
    if (!s) {
        return CAP_ERR_NOMEM;
    }
    cap_free(r->task_name);
    r->task_name = s;
    return CAP_OK;
}

static void
reset_outcome(cap_task_result *r)
{
    json_decref(r->result);
    json_decref(r->error_extra);
    cap_free(r->error_message);
    r->result = NULL;
    r->error_extra = NULL;
    r->error_message = NULL;
    r->has_exit_code = false;
}

static cap_status vfail(cap_task_result *r, cap_error_type type, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static cap_status
vfail(cap_task_result *r, cap_error_type type, const char *fmt, va_list ap)
{
    reset_outcome(r);
    r->success = false;
    r->error_type = type;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    r->error_message = cap_strdup(buf);
    return r->error_message ? CAP_OK : CAP_ERR_NOMEM;
}

cap_status
cap_task_result_fail(cap_task_result *r, cap_error_type type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cap_status st = vfail(r, type, fmt, ap);
    va_end(ap);
    return st;
}

cap_status
cap_task_result_fail_from(cap_task_result *r, const cap_error_t *err, const cap_policy_t *policy)
{
    cap_error_type type = cap_error_type_of(err);
    char amount[32];
    if (type == CAP_ERRTYPE_NONE) {
        reset_outcome(r);
        r->success = true;
        r->error_type = CAP_ERRTYPE_NONE;
        if (err && err->status == CAP_ERR_TRAP && err->trap == CAP_TRAP_EXIT) {
            r->has_exit_code = true;
            r->exit_code = 0;
        }
        return CAP_OK;
    }
    cap_status st;
    bool have = policy && (policy->set & CAP_POL_ALL);
    switch (type) {
    case CAP_ERRTYPE_OUT_OF_FUEL:
        if (have && (policy->set & CAP_POL_COMPUTE)) {
            st = cap_task_result_fail(r, type, "out of fuel after %llu units",
                                      (unsigned long long)policy->fuel);
        } else {
            st = cap_task_result_fail(r, type, "out of fuel");
        }
        break;
    case CAP_ERRTYPE_TIMEOUT:
        if (have && (policy->set & CAP_POL_TIMEOUT)) {
            cap_policy_format_duration(policy->timeout_ms, amount, sizeof amount);
            st = cap_task_result_fail(r, type, "timeout after %s", amount);
        } else {
            st = cap_task_result_fail(r, type, "timeout");
        }
        break;
    case CAP_ERRTYPE_MEMORY_LIMIT:
        if (have && (policy->set & CAP_POL_RAM)) {
            cap_policy_format_size(policy->ram, amount, sizeof amount);
            st = cap_task_result_fail(r, type, "memory limit of %s exceeded", amount);
        } else {
            st = cap_task_result_fail(r, type, "memory limit exceeded");
        }
        break;
    case CAP_ERRTYPE_EXIT:
        st = cap_task_result_fail(r, type, "exited with code %d", (int)err->exit_code);
        r->has_exit_code = true;
        r->exit_code = err->exit_code;
        break;
    default:
        st = cap_task_result_fail(r, type, "%s",
                                  err->msg[0] ? err->msg : cap_status_name(err->status));
        break;
    }
    return st;
}

cap_status
cap_task_result_from_guest(cap_task_result *r, const char *json, size_t len, cap_error_t *err)
{
    json_error_t jerr;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!o) {
        return cap_rt_fail(err, CAP_ERR_CONFIG, "the task returned invalid JSON: %s", jerr.text);
    }
    cap_status st = CAP_OK;
    if (!json_is_object(o)) {
        st = cap_rt_fail(err, CAP_ERR_CONFIG,
                         "the task's result must be a JSON object with \"result\" or "
                         "\"error_type\" and \"message\"");
        goto done;
    }
    json_t *res = json_object_get(o, "result");
    json_t *msg = json_object_get(o, "message");
    json_t *etype = json_object_get(o, "error_type");
    if (res && !etype && !msg && json_object_size(o) == 1) {
        reset_outcome(r);
        r->success = true;
        r->error_type = CAP_ERRTYPE_NONE;
        r->result = json_is_null(res) ? NULL : json_incref(res);
        goto done;
    }
    if (!res && json_is_string(msg) && (!etype || json_is_string(etype))) {
        json_t *extra = json_object();
        if (!extra) {
            st = cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
            goto done;
        }
        const char *key;
        json_t *v;
        json_object_foreach(o, key, v)
        {
            if (strcmp(key, "error_type") != 0 && strcmp(key, "message") != 0 &&
                json_object_set(extra, key, v) != 0) {
                json_decref(extra);
                st = cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
                goto done;
            }
        }
        // Guests report only their own failures; host-detected types are not theirs to claim.
        const char *text = json_string_value(msg);
        size_t tlen = json_string_length(msg);
        reset_outcome(r);
        r->success = false;
        r->error_type = CAP_ERRTYPE_TASK_ERROR;
        r->error_message = cap_strndup(text, tlen);
        r->error_extra = json_object_size(extra) ? extra : NULL;
        if (!r->error_extra) {
            json_decref(extra);
        }
        if (!r->error_message) {
            st = cap_rt_fail(err, CAP_ERR_NOMEM, "out of memory");
        }
        goto done;
    }
    st = cap_rt_fail(err, CAP_ERR_CONFIG,
                     "the task's result must be a JSON object with \"result\" or "
                     "\"error_type\" and \"message\"");
done:
    json_decref(o);
    return st;
}

void
cap_task_result_set_output(cap_task_result *r, int stream, char *data, size_t len, bool truncated)
{
    cap_output *o = stream == 2 ? &r->err : &r->out;
    cap_free(o->data);
    o->data = data;
    o->len = data ? len : 0;
    o->truncated = truncated;
}

json_t *
cap_json_string_lossy(const char *data, size_t len)
{
    if (!data) {
        return json_string("");
    }
    if (cap_rt_utf8_valid(data, len)) {
        return json_stringn(data, len);
    }
    cap_sb sb = {0};
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)data[i];
        size_t step = 1;
        if (c >= 0xC0) {
            while (step < 4 && i + step < len && ((unsigned char)data[i + step] & 0xC0) == 0x80) {
                step++;
            }
        }
        if (cap_rt_utf8_valid(data + i, step)) {
            cap_sb_append(&sb, data + i, step);
            i += step;
        } else {
            cap_sb_append(&sb, "\xEF\xBF\xBD", 3); // U+FFFD for each undecodable byte
            i += 1;
        }
    }
    size_t n = sb.len;
    char *s = cap_sb_take(&sb);
    if (!s) {
        return NULL;
    }
    json_t *j = json_stringn(s, n);
    cap_free(s);
    return j;
}

json_t *
cap_task_result_to_jansson(const cap_task_result *r)
{
    json_t *o = json_object();
    json_t *exec = json_object();
    json_t *error = NULL;
    int bad = !o || !exec;
    if (!bad && !r->success) {
        error = json_object();
        bad |= !error;
        if (!bad && r->error_extra) {
            bad |= json_object_update(error, r->error_extra);
        }
        if (!bad) {
            bad |= json_object_set_new(error, "error_type",
                                       json_string(cap_error_type_name(r->error_type)));
            bad |= json_object_set_new(
                error, "message",
                cap_json_string_lossy(r->error_message ? r->error_message : "",
                                      r->error_message ? strlen(r->error_message) : 0));
        }
    }
    if (!bad) {
        bad |= json_object_set_new(o, "success", json_boolean(r->success));
        bad |= json_object_set(o, "result", r->success && r->result ? r->result : json_null());
        bad |= json_object_set_new(o, "error", error ? error : json_null());
        error = NULL;
        bad |=
            json_object_set_new(exec, "task_name", json_string(r->task_name ? r->task_name : ""));
        bad |= json_object_set_new(exec, "duration_ms", json_integer((json_int_t)r->duration_ms));
        bad |= json_object_set_new(exec, "retries", json_integer(r->retries));
        bad |=
            json_object_set_new(exec, "fuel_consumed", json_integer((json_int_t)r->fuel_consumed));
        bad |= json_object_set_new(exec, "ram_used", json_integer((json_int_t)r->ram_used));
        if (r->has_exit_code) {
            bad |= json_object_set_new(exec, "exit_code", json_integer(r->exit_code));
        }
        if (r->host_requests) {
            bad |= json_object_set(exec, "host_requests", r->host_requests);
        }
        bad |= json_object_set_new(o, "execution", exec);
        exec = NULL;
        bad |= json_object_set_new(o, "stdout", cap_json_string_lossy(r->out.data, r->out.len));
        bad |= json_object_set_new(o, "stderr", cap_json_string_lossy(r->err.data, r->err.len));
        bad |= json_object_set_new(o, "stdout_truncated", json_boolean(r->out.truncated));
        bad |= json_object_set_new(o, "stderr_truncated", json_boolean(r->err.truncated));
        bad |=
            json_object_set_new(o, "task_id", r->task_id ? json_integer(r->task_id) : json_null());
    }
    json_decref(error);
    json_decref(exec);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *
cap_task_result_to_json(const cap_task_result *r)
{
    json_t *o = cap_task_result_to_jansson(r);
    if (!o) {
        return NULL;
    }
    char *s = cap_json_text(o, false);
    json_decref(o);
    return s;
}
