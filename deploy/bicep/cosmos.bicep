// Cosmos DB (NoSQL, serverless) for service state. Keys are disabled: each service reaches only its
// own container through Cosmos DB data-plane RBAC. Containers are partitioned by incident (`/pk`):
// the executor ledger by incident id, triage by the incident's correlation key (one open incident
// per key), so what one message changes is one partition, written in one transactional batch;
// every rewrite carries the document's ETag (optimistic concurrency). The policy's decisions span
// incidents and targets, so its small state shares one partition to stay atomic (docs/azure.md).
param location string
param accountName string
@description('[{ name, principalId }] one container per stateful service')
param containers array

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: accountName
  location: location
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    disableLocalAuth: true
    minimalTlsVersion: 'Tls12'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: 'warden'
  properties: {
    resource: {
      id: 'warden'
    }
  }
}

resource stores 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [for c in containers: {
  parent: database
  name: c.name
  properties: {
    resource: {
      id: c.name
      partitionKey: {
        paths: [
          '/pk'
        ]
        kind: 'Hash'
      }
    }
  }
}]

// Cosmos DB Built-in Data Contributor, scoped to the one container.
resource dataRoles 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = [for (c, i) in containers: {
  parent: account
  name: guid(account.id, c.name, c.principalId)
  dependsOn: [
    stores[i]
  ]
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
    principalId: c.principalId
    scope: '${account.id}/dbs/warden/colls/${c.name}'
  }
}]

output endpoint string = account.properties.documentEndpoint
