#!/usr/bin/env node
// segmentdb from Node.js: create a collection, add vectors with metadata, run a filtered
// query, and handle a NOT_FOUND. The stubs are loaded at run time from the repository's
// protos/ (no code generation step); any gRPC client in any language works the same way.
//
//   npm ci
//   node segmentdb-example.js --target localhost:50051 [--collection NAME] [--keep]
//
// Prints one JSON object per step on stdout (tests/clients/test_node_example.py reads them).
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const PROTOS = process.env.SEGMENTDB_PROTOS || path.resolve(__dirname, '..', '..', 'protos');

function parseArgs(argv) {
  const args = { target: process.env.SEGMENTDB_TARGET || 'localhost:50051',
                 collection: `node-example-${process.pid}`, keep: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--target') args.target = argv[++i];
    else if (argv[i] === '--collection') args.collection = argv[++i];
    else if (argv[i] === '--keep') args.keep = true;
    else throw new Error(`unknown argument ${argv[i]} (use --target, --collection, --keep)`);
  }
  return args;
}

function loadApi() {
  const definition = protoLoader.loadSync(
    ['segmentdb/v1/collection_service.proto', 'segmentdb/v1/record_service.proto'],
    {
      includeDirs: [PROTOS],
      keepCase: true,   // field names as in the .proto files (snake_case)
      longs: String,    // uint64/int64 arrive as strings: no precision loss
      enums: String,    // enum values by name, e.g. 'SPACE_COSINE'
      defaults: true,
      oneofs: true,     // a oneof's field name is set, e.g. value.kind === 'int_value'
    });
  return grpc.loadPackageDefinition(definition).segmentdb.v1;
}

// Unary call as a promise, with a deadline (the server propagates it to its workers).
function call(client, method, request, seconds = 10) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + seconds * 1000 },
      (err, response) => (err ? reject(err) : resolve(response)));
  });
}

// Vectors travel as ONE packed field: row-major little-endian float32 bytes + the dimension.
function packVectors(rows) {
  const dimension = rows[0].length;
  const data = Buffer.alloc(rows.length * dimension * 4);
  rows.forEach((row, i) => row.forEach((value, j) => {
    data.writeFloatLE(value, (i * dimension + j) * 4);
  }));
  return { dimension, data };
}

// A plain object -> segmentdb.v1.Metadata (typed values: string, int, float, bool).
function toMetadata(object) {
  const fields = {};
  for (const [key, value] of Object.entries(object)) {
    if (typeof value === 'string') fields[key] = { string_value: value };
    else if (typeof value === 'boolean') fields[key] = { bool_value: value };
    else if (Number.isInteger(value)) fields[key] = { int_value: value };
    else fields[key] = { float_value: value };
  }
  return { fields };
}

function fromMetadata(metadata) {
  const object = {};
  for (const [key, value] of Object.entries(metadata.fields || {})) {
    const raw = value[value.kind];
    object[key] = value.kind === 'int_value' ? Number(raw) : raw;
  }
  return object;
}

// Errors carry a google.rpc.Status in the `grpc-status-details-bin` trailer; its ErrorInfo
// detail (domain "segmentdb") names the error class, e.g. NotFoundError.
const rpcTypes = protobuf.Root.fromJSON({ nested: { google: { nested: {
  protobuf: { nested: { Any: { fields: {
    type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } } } },
  rpc: { nested: {
    Status: { fields: {
      code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 },
      details: { rule: 'repeated', type: 'google.protobuf.Any', id: 3 } } },
    ErrorInfo: { fields: {
      reason: { type: 'string', id: 1 }, domain: { type: 'string', id: 2 },
      metadata: { keyType: 'string', type: 'string', id: 3 } } } } } } } } });

function errorInfo(err) {
  const [details] = err.metadata ? err.metadata.get('grpc-status-details-bin') : [];
  if (!details) return null;
  const status = rpcTypes.lookupType('google.rpc.Status').decode(details);
  for (const any of status.details) {
    if (any.type_url === 'type.googleapis.com/google.rpc.ErrorInfo') {
      return rpcTypes.lookupType('google.rpc.ErrorInfo').decode(any.value);
    }
  }
  return null;
}

function print(step, fields) {
  console.log(JSON.stringify({ step, ...fields }));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const api = loadApi();
  const credentials = grpc.credentials.createInsecure();
  const collections = new api.CollectionService(args.target, credentials);
  const records = new api.RecordService(args.target, credentials);

  const created = await call(collections, 'CreateCollection', {
    name: args.collection,
    configuration: { hnsw: { space: 'SPACE_L2' } },
  });
  const collectionId = created.collection.id;
  print('create_collection', { id: collectionId, name: created.collection.name });

  const books = [
    { id: 'a', vector: [1, 0, 0], document: 'a tale of two cities', genre: 'fiction', year: 1859 },
    { id: 'b', vector: [0.9, 0.1, 0], document: 'leaves of grass', genre: 'poetry', year: 1855 },
    { id: 'c', vector: [0, 1, 0], document: 'ulysses', genre: 'fiction', year: 1922 },
    { id: 'd', vector: [0, 0, 2], document: 'don quixote', genre: 'fiction', year: 1605 },
  ];
  const added = await call(records, 'AddRecords', {
    collection_id: collectionId,
    ids: books.map((b) => b.id),
    embeddings: packVectors(books.map((b) => b.vector)),
    documents: books.map((b) => ({ value: b.document })),
    metadatas: books.map((b) => toMetadata({ genre: b.genre, year: b.year })),
  });
  print('add_records', { inserted: added.inserted, log_sequence: added.log_sequence });

  // where = {"$and": [{"genre": {"$eq": "fiction"}}, {"year": {"$gte": 1850}}]}
  const where = { all_of: { clauses: [
    { condition: { key: 'genre', operator: 'COMPARISON_OPERATOR_EQ',
                   value: { string_value: 'fiction' } } },
    { condition: { key: 'year', operator: 'COMPARISON_OPERATOR_GTE',
                   value: { int_value: 1850 } } },
  ] } };
  const answer = await call(records, 'QueryRecords', {
    collection_id: collectionId,
    query_embeddings: packVectors([[1, 0, 0]]),
    n_results: 3,  // only two records match: fewer results, not an error
    where,
    include: { fields: ['INCLUDE_FIELD_DOCUMENTS', 'INCLUDE_FIELD_METADATAS',
                        'INCLUDE_FIELD_DISTANCES'] },
  });
  const [hits] = answer.results;
  print('query', {
    ids: hits.ids,
    distances: hits.distances,
    documents: hits.documents.map((d) => (d.value === undefined ? null : d.value)),
    metadatas: hits.metadatas.map(fromMetadata),
  });

  try {
    await call(collections, 'GetCollection', { name: `${args.collection}-missing` });
    throw new Error('GetCollection of a missing collection succeeded');
  } catch (err) {
    if (err.code !== grpc.status.NOT_FOUND) throw err;
    const info = errorInfo(err);
    print('not_found', { code: err.code, status: grpc.status[err.code],
                         reason: info && info.reason, domain: info && info.domain,
                         message: err.details });
  }

  if (!args.keep) {
    await call(collections, 'DeleteCollection', { name: args.collection });
    print('delete_collection', { name: args.collection });
  }
  collections.close();
  records.close();
}

main().catch((err) => {
  const code = err.code !== undefined ? ` (${grpc.status[err.code] || err.code})` : '';
  console.error(`segmentdb-example: ${err.details || err.message}${code}`);
  process.exit(1);
});
