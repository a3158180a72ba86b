// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <math.h>
#include "common/jsonw.h"

Test(jsonw, nested_output_is_valid_json_with_escapes)
{
	struct jw w;
	struct json_object *o, *v;

	jw_init(&w);
	jw_obj(&w);
	jw_kstr(&w, "id", "a \"quoted\"\\ name\n\x01");
	jw_ku64(&w, "n", 18446744073709551615ULL);
	jw_kdbl(&w, "p", 1.5);
	jw_kdbl(&w, "bad", NAN);
	jw_key(&w, "list");
	jw_arr(&w);
	jw_u64(&w, 1);
	jw_obj(&w);
	jw_kstr(&w, "x", "y");
	jw_obj_end(&w);
	jw_arr(&w);
	jw_arr_end(&w);
	jw_arr_end(&w);
	jw_key(&w, "t");
	jw_bool(&w, 1);
	jw_obj_end(&w);
	cr_assert_eq(w.err, 0);
	o = json_tokener_parse(w.buf);
	cr_assert_not_null(o, "not JSON: %s", w.buf);
	cr_assert(json_object_object_get_ex(o, "id", &v));
	cr_assert_str_eq(json_object_get_string(v), "a \"quoted\"\\ name\n\x01");
	cr_assert(json_object_object_get_ex(o, "bad", &v));
	cr_assert_null(v, "NaN is null");
	cr_assert(json_object_object_get_ex(o, "list", &v));
	cr_assert_eq(json_object_array_length(v), 3);
	cr_assert_str_eq(w.buf, "{\"id\":\"a \\\"quoted\\\"\\\\ name\\u000a\\u0001\","
			 "\"n\":18446744073709551615,\"p\":1.5,\"bad\":null,"
			 "\"list\":[1,{\"x\":\"y\"},[]],\"t\":true}");
	json_object_put(o);
	jw_free(&w);
}
