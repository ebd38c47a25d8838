// The model-name rule, shared by the protocol (which refuses other names), the data
// folder (a name is one file name in it) and the metrics (a name is a label value).

/** 1 to 128 ASCII letters, digits, ".", "_", "-", starting with a letter or digit. */
export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
