#include <dnnl.h>
#include <dnnl_version.h>
#include <stdint.h>
#include <stdlib.h>

// One C face over oneDNN's two API generations, chosen by the installed headers: 2.x describes an
// operation first (`dnnl_convolution_forward_desc_init`) and keeps memory descriptors as values;
// 3.x creates primitive descriptors directly and keeps memory descriptors behind handles. Swift
// (Sources/LoupeTensor/DNNL/) calls these `loupe_` functions wherever the generations differ, and
// oneDNN's own functions where they agree (engines, streams, attributes, primitives, sgemm).
#define LOUPE_DNNL_V3 (DNNL_VERSION_MAJOR >= 3)

/// A memory descriptor owned by its holder (`loupe_md_destroy`): the 3.x handle, or a 2.x value
/// on the heap.
typedef struct loupe_memory_desc *loupe_md_t;

#if LOUPE_DNNL_V3
static inline const_dnnl_memory_desc_t loupe_md_raw(loupe_md_t md) { return (const_dnnl_memory_desc_t)md; }
#else
static inline const dnnl_memory_desc_t *loupe_md_raw(loupe_md_t md) { return (const dnnl_memory_desc_t *)md; }
#endif

/// A float32 descriptor of `ndims` dimensions in the format `tag` (`dnnl_format_tag_any` leaves it
/// to the primitive); NULL when oneDNN refuses the dimensions.
static inline loupe_md_t loupe_md_create(int ndims, const int64_t *dims, dnnl_format_tag_t tag) {
#if LOUPE_DNNL_V3
    dnnl_memory_desc_t md = NULL;
    if (dnnl_memory_desc_create_with_tag(&md, ndims, dims, dnnl_f32, tag) != dnnl_success) return NULL;
    return (loupe_md_t)md;
#else
    dnnl_memory_desc_t *md = (dnnl_memory_desc_t *)malloc(sizeof *md);
    if (md == NULL) return NULL;
    if (dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32, tag) != dnnl_success) {
        free(md);
        return NULL;
    }
    return (loupe_md_t)md;
#endif
}

static inline void loupe_md_destroy(loupe_md_t md) {
#if LOUPE_DNNL_V3
    dnnl_memory_desc_destroy((dnnl_memory_desc_t)md);
#else
    free(md);
#endif
}

/// A copy of the descriptor a primitive chose for `what` (`index`-th of its kind), or NULL when
/// the primitive has no such argument.
static inline loupe_md_t loupe_pd_query_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index) {
#if LOUPE_DNNL_V3
    const_dnnl_memory_desc_t md = dnnl_primitive_desc_query_md(pd, what, index);
    int32_t ndims = 0;
    if (md == NULL || dnnl_memory_desc_query(md, dnnl_query_ndims_s32, &ndims) != dnnl_success || ndims == 0)
        return NULL;
    dnnl_memory_desc_t copy = NULL;
    if (dnnl_memory_desc_clone(&copy, md) != dnnl_success) return NULL;
    return (loupe_md_t)copy;
#else
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, what, index);
    if (md == NULL || md->ndims == 0) return NULL;
    dnnl_memory_desc_t *copy = (dnnl_memory_desc_t *)malloc(sizeof *copy);
    if (copy == NULL) return NULL;
    *copy = *md;
    return (loupe_md_t)copy;
#endif
}

static inline size_t loupe_md_size(loupe_md_t md) { return dnnl_memory_desc_get_size(loupe_md_raw(md)); }

static inline int loupe_md_equal(loupe_md_t a, loupe_md_t b) {
    return dnnl_memory_desc_equal(loupe_md_raw(a), loupe_md_raw(b));
}

/// The logical dimensions (at most DNNL_MAX_NDIMS) into `dims`; returns their number.
static inline int loupe_md_dims(loupe_md_t md, int64_t *dims) {
#if LOUPE_DNNL_V3
    int32_t ndims = 0;
    const dnnl_dims_t *values = NULL;
    if (dnnl_memory_desc_query(loupe_md_raw(md), dnnl_query_ndims_s32, &ndims) != dnnl_success
        || dnnl_memory_desc_query(loupe_md_raw(md), dnnl_query_dims, &values) != dnnl_success)
        return 0;
    for (int i = 0; i < ndims; i++) dims[i] = (*values)[i];
    return ndims;
#else
    for (int i = 0; i < loupe_md_raw(md)->ndims; i++) dims[i] = loupe_md_raw(md)->dims[i];
    return loupe_md_raw(md)->ndims;
#endif
}

/// The layout of a blocked descriptor: outer strides, then the inner blocks and the dimension each
/// blocks (`strides`, `blocks` and `indices` hold DNNL_MAX_NDIMS each). Returns the number of inner
/// blocks, or -1 when the format is not a plain or blocked one (Winograd's, say) or is padded.
static inline int loupe_md_blocking(loupe_md_t md, int64_t *strides, int64_t *blocks, int64_t *indices) {
    int64_t dims[DNNL_MAX_NDIMS];
    int ndims = loupe_md_dims(md, dims);
#if LOUPE_DNNL_V3
    dnnl_format_kind_t kind = dnnl_format_kind_undef;
    const dnnl_dims_t *padded = NULL, *padded_offsets = NULL, *outer = NULL, *inner = NULL, *which = NULL;
    int32_t count = 0;
    int64_t offset = 0;
    const_dnnl_memory_desc_t raw = loupe_md_raw(md);
    if (dnnl_memory_desc_query(raw, dnnl_query_format_kind, &kind) != dnnl_success || kind != dnnl_blocked) return -1;
    if (dnnl_memory_desc_query(raw, dnnl_query_padded_dims, &padded) != dnnl_success
        || dnnl_memory_desc_query(raw, dnnl_query_padded_offsets, &padded_offsets) != dnnl_success
        || dnnl_memory_desc_query(raw, dnnl_query_strides, &outer) != dnnl_success
        || dnnl_memory_desc_query(raw, dnnl_query_inner_nblks_s32, &count) != dnnl_success
        || dnnl_memory_desc_query(raw, dnnl_query_inner_blks, &inner) != dnnl_success
        || dnnl_memory_desc_query(raw, dnnl_query_inner_idxs, &which) != dnnl_success
        || dnnl_memory_desc_query(raw, dnnl_query_submemory_offset_s64, &offset) != dnnl_success)
        return -1;
    for (int i = 0; i < ndims; i++) {
        if ((*padded)[i] != dims[i] || (*padded_offsets)[i] != 0) return -1;
        strides[i] = (*outer)[i];
    }
    for (int i = 0; i < count; i++) {
        blocks[i] = (*inner)[i];
        indices[i] = (*which)[i];
    }
    return offset == 0 ? count : -1;
#else
    const dnnl_memory_desc_t *raw = loupe_md_raw(md);
    if (raw->format_kind != dnnl_blocked || raw->offset0 != 0) return -1;
    for (int i = 0; i < ndims; i++) {
        if (raw->padded_dims[i] != dims[i] || raw->padded_offsets[i] != 0) return -1;
        strides[i] = raw->format_desc.blocking.strides[i];
    }
    for (int i = 0; i < raw->format_desc.blocking.inner_nblks; i++) {
        blocks[i] = raw->format_desc.blocking.inner_blks[i];
        indices[i] = raw->format_desc.blocking.inner_idxs[i];
    }
    return raw->format_desc.blocking.inner_nblks;
#endif
}

static inline dnnl_status_t loupe_memory_create(dnnl_memory_t *memory, loupe_md_t md, dnnl_engine_t engine, void *handle) {
    return dnnl_memory_create(memory, loupe_md_raw(md), engine, handle);
}

static inline dnnl_status_t loupe_reorder_pd_create(dnnl_primitive_desc_t *pd, loupe_md_t source, loupe_md_t destination,
                                                     dnnl_engine_t engine) {
    return dnnl_reorder_primitive_desc_create(pd, loupe_md_raw(source), engine, loupe_md_raw(destination), engine, NULL);
}

/// A convolution's primitive descriptor. `kind` is `dnnl_forward_training`, `dnnl_forward_inference`,
/// `dnnl_backward_data` (src and dst are then the gradients; bias unused) or `dnnl_backward_weights`
/// (weights and bias are the gradients); `hint` is the forward a backward pairs with. Dilation counts
/// from 0. Returns oneDNN's status; `*pd` is set on success only.
static inline dnnl_status_t loupe_convolution_pd_create(
    dnnl_primitive_desc_t *pd, dnnl_engine_t engine, dnnl_prop_kind_t kind, dnnl_alg_kind_t algorithm,
    loupe_md_t src, loupe_md_t weights, loupe_md_t bias, loupe_md_t dst, const int64_t *strides,
    const int64_t *dilates, const int64_t *padding_l, const int64_t *padding_r, const_dnnl_primitive_attr_t attr,
    const_dnnl_primitive_desc_t hint) {
#if LOUPE_DNNL_V3
    const_dnnl_memory_desc_t b = bias ? loupe_md_raw(bias) : NULL;
    switch (kind) {
    case dnnl_backward_data:
        return dnnl_convolution_backward_data_primitive_desc_create(
            pd, engine, algorithm, loupe_md_raw(src), loupe_md_raw(weights), loupe_md_raw(dst), strides, dilates,
            padding_l, padding_r, hint, attr);
    case dnnl_backward_weights:
        return dnnl_convolution_backward_weights_primitive_desc_create(
            pd, engine, algorithm, loupe_md_raw(src), loupe_md_raw(weights), b, loupe_md_raw(dst), strides, dilates,
            padding_l, padding_r, hint, attr);
    default:
        return dnnl_convolution_forward_primitive_desc_create(
            pd, engine, kind, algorithm, loupe_md_raw(src), loupe_md_raw(weights), b, loupe_md_raw(dst), strides,
            dilates, padding_l, padding_r, attr);
    }
#else
    const dnnl_memory_desc_t *b = bias ? loupe_md_raw(bias) : NULL;
    dnnl_convolution_desc_t operation;
    dnnl_status_t status;
    switch (kind) {
    case dnnl_backward_data:
        status = dnnl_dilated_convolution_backward_data_desc_init(
            &operation, algorithm, loupe_md_raw(src), loupe_md_raw(weights), loupe_md_raw(dst), strides, dilates,
            padding_l, padding_r);
        break;
    case dnnl_backward_weights:
        status = dnnl_dilated_convolution_backward_weights_desc_init(
            &operation, algorithm, loupe_md_raw(src), loupe_md_raw(weights), b, loupe_md_raw(dst), strides, dilates,
            padding_l, padding_r);
        break;
    default:
        status = dnnl_dilated_convolution_forward_desc_init(
            &operation, kind, algorithm, loupe_md_raw(src), loupe_md_raw(weights), b, loupe_md_raw(dst), strides,
            dilates, padding_l, padding_r);
    }
    if (status != dnnl_success) return status;
    return dnnl_primitive_desc_create(pd, &operation, attr, engine, hint);
#endif
}

/// A max pooling's primitive descriptor: `kind` is `dnnl_forward_training`, `dnnl_forward_inference`
/// or `dnnl_backward_data` (src and dst are then the gradients, and `hint` the forward). Dilation
/// counts from 0.
static inline dnnl_status_t loupe_max_pooling_pd_create(
    dnnl_primitive_desc_t *pd, dnnl_engine_t engine, dnnl_prop_kind_t kind, loupe_md_t src, loupe_md_t dst,
    const int64_t *strides, const int64_t *kernel, const int64_t *dilation, const int64_t *padding_l,
    const int64_t *padding_r, const_dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint) {
#if LOUPE_DNNL_V3
    if (kind == dnnl_backward_data)
        return dnnl_pooling_backward_primitive_desc_create(pd, engine, dnnl_pooling_max, loupe_md_raw(src),
                                                            loupe_md_raw(dst), strides, kernel, dilation, padding_l,
                                                            padding_r, hint, attr);
    return dnnl_pooling_forward_primitive_desc_create(pd, engine, kind, dnnl_pooling_max, loupe_md_raw(src),
                                                       loupe_md_raw(dst), strides, kernel, dilation, padding_l,
                                                       padding_r, attr);
#else
    dnnl_pooling_v2_desc_t operation;
    dnnl_status_t status = kind == dnnl_backward_data
        ? dnnl_pooling_v2_backward_desc_init(&operation, dnnl_pooling_max, loupe_md_raw(src), loupe_md_raw(dst),
                                             strides, kernel, dilation, padding_l, padding_r)
        : dnnl_pooling_v2_forward_desc_init(&operation, kind, dnnl_pooling_max, loupe_md_raw(src), loupe_md_raw(dst),
                                            strides, kernel, dilation, padding_l, padding_r);
    if (status != dnnl_success) return status;
    return dnnl_primitive_desc_create(pd, &operation, attr, engine, hint);
#endif
}

/// Appends "add the destination's prior values" to `post_ops`.
static inline dnnl_status_t loupe_post_ops_append_sum(dnnl_post_ops_t post_ops) {
#if LOUPE_DNNL_V3
    return dnnl_post_ops_append_sum(post_ops, 1, 0, dnnl_data_type_undef);
#else
    return dnnl_post_ops_append_sum(post_ops, 1);
#endif
}

/// Appends the elementwise `algorithm` with `alpha` and `beta` to `post_ops` (oneDNN 3.x
/// dropped the scale argument).
static inline dnnl_status_t loupe_post_ops_append_eltwise(
    dnnl_post_ops_t post_ops, dnnl_alg_kind_t algorithm, float alpha, float beta) {
#if LOUPE_DNNL_V3
    return dnnl_post_ops_append_eltwise(post_ops, algorithm, alpha, beta);
#else
    return dnnl_post_ops_append_eltwise(post_ops, 1, algorithm, alpha, beta);
#endif
}

/// x · relu6(x + 3) / 6 as an eltwise post-op: oneDNN 3.x parametrizes hardswish as
/// x · min(1, max(0, αx + β)), which 2.x does not.
static inline dnnl_status_t loupe_post_ops_append_hardswish(dnnl_post_ops_t post_ops) {
#if LOUPE_DNNL_V3
    return loupe_post_ops_append_eltwise(post_ops, dnnl_eltwise_hardswish, 1.0f / 6.0f, 0.5f);
#else
    return loupe_post_ops_append_eltwise(post_ops, dnnl_eltwise_hardswish, 0, 0);
#endif
}
